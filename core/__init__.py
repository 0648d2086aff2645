"""What every room shares: settings, the project's errors, time and text helpers.

Imports nothing of ours, so any room may import it.
"""
