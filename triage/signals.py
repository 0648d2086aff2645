"""What an experienced agent reads in a request: scope, time pressure, business effect,
workarounds, and whether it asks for a change.

Each :class:`Signal` names the words that fired, how an agent reads them ("'about 15 people'
→ a team or department") and the level they point to.  :func:`read_request` collects them;
:func:`decide` turns them into an impact, an urgency and (for changes) a type, each with the
signal that decided and whether the decision is *explicit* (the request says so) or a
*default* (nothing in the request says otherwise: one requester, a question, a fault with no
deadline).  The triage service combines these with the desk's trained models.

Every pattern here runs on user text: alternations of fixed words and bounded gaps only (no
nested or unbounded quantifiers), so matching stays linear in the length of the text; the
text is also cut to :data:`MAX_CHARS` first (a request's signals are in its first pages).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

MAX_CHARS = 20_000
LEVELS = ("low", "medium", "high")


@dataclass(frozen=True)
class Signal:
    kind: str  # scope | deadline | relaxed | business | blocked | workaround | change | ...
    target: str  # impact | urgency | type
    level: str  # the level (or type) it points to
    text: str  # the words in the request
    reading: str  # how an agent reads them
    explicit: bool = True  # said in the request (False: a default when nothing is said)

    def reason(self) -> str:
        if not self.text:
            return self.reading
        return f"{self.text!r} → {self.reading}"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Reading:
    """All signals found in one request, and the decisions they support."""

    signals: list[Signal] = field(default_factory=list)
    one_customer: bool = False  # "a customer", "this client": one person on whose behalf

    def of(self, target: str) -> list[Signal]:
        return [s for s in self.signals if s.target == target]


def _prepare(text: str) -> str:
    text = text[:MAX_CHARS].lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("`", "'")
    text = _CONTRACTION.sub(r"\1'\2", text)  # "cant", "doesnt": as people type them
    return re.sub(r"\s+", " ", text)


_CONTRACTION = re.compile(
    r"\b(can|don|won|isn|doesn|didn|couldn|wasn|aren|haven|hasn|shouldn|wouldn)(t)\b"
)


# -- scope (impact) -----------------------------------------------------------------------

_NUMBER_WORDS = {
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "fifteen": 15,
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "hundred": 100,
    "a hundred": 100,
    "a dozen": 12,
    "dozen": 12,
    "a couple of": 2,
    "a couple": 2,
    "a few": 3,
    "few": 3,
    "several": 6,
    "multiple": 6,
    "some": 6,
    "a number of": 6,
    "many": 30,
    "lots of": 30,
    "loads of": 30,
    "most": 30,
    "dozens of": 30,
    "hundreds of": 200,
    "thousands of": 2000,
}
_PEOPLE = (
    r"people|persons|users|staff|colleagues|employees|agents|pickers|packers|drivers|"
    r"workers|operators|cashiers|engineers|developers|accountants|reps|representatives|"
    r"members|managers|nurses|teachers|students|callers|guys|folks|of us|of them|"
    r"of my team|of our team|of the team|of my colleagues|of our colleagues"
)
_CUSTOMERS = r"customers|clients|shoppers|buyers|consumers|visitors|guests|patients"
_SITES = (
    r"stores|shops|branches|sites|offices|locations|warehouses|depots|plants|"
    r"factories|regions|countries|buildings|floors"
)
_GROUPS = r"teams|departments|depts"
_COUNT = re.compile(
    r"\b(?:(?:about|around|roughly|approx\.?|approximately|some|over|more than|at least|nearly|"
    r"almost|all) )?(?P<num>\d{1,6}|"
    + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True))
    + r")\+? (?:(?!and |or |but |to |with |for |from |of |all |every )[a-z-]+ ){0,2}?"
    rf"(?P<noun>{_PEOPLE}|{_CUSTOMERS}|{_SITES}|{_GROUPS})\b|"
    # "(we're 14 on shift)", "we are 7", "there are about 20 of us"
    r"\b(?:we're|we are|they're|they are) (?:about |around |roughly |"
    r"some |approx\.? )?(?P<num2>\d{1,5})\b|"
    r"\((?:about|around|roughly|approx\.?|some|all|ca\.?) (?P<num3>\d{1,5})\)"
)
_PLACE = (
    r"floor|building|office|site|warehouse|plant|factory|store|shop|branch|campus|"
    r"location|depot|hall|wing|premises|hq|headquarters|distribution cent(?:er|re)|dc"
)
_TEAM = (
    r"team|department|dept|group|unit|division|shift|desk|office staff|crew|"
    r"finance|accounts|accounting|sales|hr|marketing|logistics|purchasing|procurement|"
    r"customer service|support|payroll|legal|it|management|reception|call cent(?:er|re)"
)
_ORG = r"company|organi[sz]ation|business|firm|corporation|enterprise|group"
_WIDE_ALL = re.compile(
    r"\b(?:(?P<whole>whole|entire|complete|all of (?:the |our )?|the full) "
    rf"(?:[a-z0-9-]+ ){{0,3}}?(?P<what>{_ORG}|{_PLACE}|{_TEAM})|"
    rf"(?P<all>all|every) (?:of )?(?:the |our |my )?"
    r"(?:(?!and |or |but |to |with |for |from |of |day |week |morning |night )[a-z-]+ ){0,2}?"
    rf"(?P<allwhat>users|staff|employees|colleagues|people|{_CUSTOMERS}|{_SITES}|{_GROUPS}|"
    r"user|employee|customer|client|store|shop|branch|site|office|location|team|department)|"
    r"(?P<everyone>everyone|everybody|all of us|all users|no ?one|nobody|none of us)"
    r"(?: (?:else )?(?:here |else )?(?:in|on|at|from) (?:the |our |my |this )?"
    rf"(?:[a-z0-9-]+ ){{0,2}}?(?P<where>{_PLACE}|{_TEAM}|{_ORG}))?|"
    r"(?P<wide>company[- ]wide|organi[sz]ation[- ]wide|site[- ]wide|business[- ]wide|"
    r"across the (?:company|business|organi[sz]ation|board)|for all users)|"
    r"(?P<orders>(?:all|every) (?:the |our )?(?:web ?shop |online |web |customer |incoming )?"
    r"(?:orders?|payments?|transactions?|invoices?|deliveries)))\b"
)
_SINGLE = re.compile(
    r"\b(?:(?:only|just) (?:me|my|mine|for me|on my|this one|one (?:user|person|customer|pc|"
    r"laptop|machine))|(?:nobody|no one|no-one|noone) else|no other (?:users?|colleagues?|"
    r"people|customers?)|(?:i'm|i am) the only one|(?:others|colleagues|everyone else|"
    r"the rest of (?:the|my) team) (?:can|are|is) (?:fine|ok|working|able)|"
    r"(?:colleagues|others) (?:can )?(?:print|log ?in|connect|work) fine)\b"
)
_NO_ONE_AFFECTED = re.compile(
    r"\bno (?:users?|customers?|one|staff|people|colleagues)(?: (?:are|is|were|was|seem|"
    r"seems) (?:to be )?)?(?: (?:affected|impacted))\b|\bnobody (?:is |else is )?"
    r"(?:affected|impacted)\b|\b(?:no|without) (?:user|business|customer) impact\b"
)
_ONE_CUSTOMER = re.compile(
    r"\b(?:a|one|this|the|our|my|his|her) (?:customer|client|user|colleague|new starter|"
    r"new hire|employee|manager|picker|driver)\b"
)
_NEGATED = re.compile(r"\b(?:not|no|isn't|aren't|never|hardly|instead of)\s*$")
_SHARED_DOWN = re.compile(
    r"\b(?P<svc>web ?shop|website|online shop|e-?commerce site|erp|sap|wms|"
    r"email|e-mail|mail server|exchange|outlook|teams|network|internet|wi-?fi|wireless|"
    r"vpn|server|servers|intranet|sharepoint|portal|customer portal|checkout|payment page|"
    r"payments?|phone system|telephony|phones|crm|shared drive|file server|citrix|"
    r"the system|systems) (?:is|are|went|has gone|have gone|seems|seem to be|appears) "
    r"(?:completely |totally |all |entirely )?(?:down|offline|unreachable|unavailable|"
    r"not available|not reachable)\b"
)


_EXACT = {
    k
    for k, v in _NUMBER_WORDS.items()
    if k.isalpha() and k not in ("few", "several", "multiple", "some", "many", "most", "dozen")
}
_ABOUT_ME = re.compile(r"(?: [a-z']+){0,4}? (?:me|my|i)\b")


def _count_value(raw: str) -> int:
    if raw.isdigit():
        return int(raw)
    return _NUMBER_WORDS.get(raw, 0)


def _negated(text: str, start: int) -> bool:
    return bool(_NEGATED.search(text[max(0, start - 14) : start]))


def _scope(text: str, users: int | None) -> list[Signal]:
    out: list[Signal] = []
    if isinstance(users, int) and not isinstance(users, bool) and users > 0:
        level = "high" if users >= 50 else ("medium" if users >= 5 else "low")
        out.append(
            Signal(
                "users_field",
                "impact",
                level,
                f"{users} users affected",
                {"high": "organisation-wide (≥ 50 users)", "medium": "a team or department"}.get(
                    level, "one user or a few"
                ),
            )
        )
    for m in _NO_ONE_AFFECTED.finditer(text):
        out.append(Signal("single", "impact", "low", m.group(0), "nobody else is affected"))
    for m in _COUNT.finditer(text):
        if _negated(text, m.start()):
            continue
        if m.group("num2") or m.group("num3"):
            n, noun = int(m.group("num2") or m.group("num3")), "people"
        else:
            n, noun = _count_value(m.group("num")), m.group("noun")
        if noun in ("of us", "of them") or noun.startswith("of "):
            n = max(n, 2)
        if re.fullmatch(_CUSTOMERS, noun):
            level = "high" if n >= 10 else ("medium" if n >= 2 else "low")
            reading = f"{'many' if n >= 10 else 'several'} customers affected"
        elif re.fullmatch(_SITES, noun) or re.fullmatch(_GROUPS, noun):
            level = "high" if n >= 2 else "medium"
            reading = f"{noun} affected: more than one location or group"
        else:
            level = "high" if n >= 50 else ("medium" if n >= 5 else "low")
            reading = {
                "high": f"{n}+ people: organisation-wide",
                "medium": "a team or department",
                "low": "a few people",
            }[level]
        exact = (
            m.group("num2")
            or m.group("num3")
            or m.group("num").isdigit()
            or m.group("num") in _EXACT
        )
        out.append(Signal("headcount" if exact else "group", "impact", level, m.group(0), reading))
    for m in _WIDE_ALL.finditer(text):
        if _negated(text, m.start()):
            continue
        g = m.groupdict()
        if g["whole"]:
            what = g["what"]
            if re.fullmatch(_ORG, what):
                out.append(Signal("place", "impact", "high", m.group(0), "the whole organisation"))
            elif re.fullmatch(_PLACE, what):
                out.append(Signal("place", "impact", "high", m.group(0), f"a whole {what}"))
            else:
                out.append(Signal("group", "impact", "medium", m.group(0), "a whole team"))
        elif g["all"]:
            what = g["allwhat"]
            if re.fullmatch(rf"{_CUSTOMERS}|customer|client", what):
                out.append(Signal("place", "impact", "high", m.group(0), "all customers"))
            elif re.fullmatch(r"team|department|teams|departments|depts", what):
                level = "high" if what.endswith("s") else "medium"
                reading = "every team" if level == "high" else "a whole team"
                out.append(
                    Signal(
                        "place" if level == "high" else "group",
                        "impact",
                        level,
                        m.group(0),
                        reading,
                    )
                )
            else:
                out.append(Signal("place", "impact", "high", m.group(0), "everyone"))
        elif g["orders"]:
            out.append(Signal("place", "impact", "high", m.group(0), "all customers' orders"))
        elif g["everyone"]:
            where = g["where"]
            if not where and _ABOUT_ME.match(text, m.end()):
                continue  # "nobody can hear me": one requester's problem
            if where and re.fullmatch(_TEAM, where):
                out.append(Signal("group", "impact", "medium", m.group(0), "a whole team"))
            elif where and re.fullmatch(_PLACE, where):
                out.append(Signal("place", "impact", "high", m.group(0), f"a whole {where}"))
            else:
                out.append(Signal("everyone", "impact", "high", m.group(0), "everyone"))
        else:
            out.append(Signal("place", "impact", "high", m.group(0), "organisation-wide"))
    for m in _SHARED_DOWN.finditer(text):
        before = text[max(0, m.start() - 6) : m.start()]
        if "my " in before or "his " in before or "her " in before:
            continue
        out.append(
            Signal("place", "impact", "high", m.group(0), "a shared service is down for all")
        )
    for m in _SINGLE.finditer(text):
        out.append(Signal("single", "impact", "low", m.group(0), "only this requester"))
    return out


# -- time pressure, business effect and workarounds (urgency) ------------------------------

_DAY = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|mon|tue|wed|thu|fri"
_MONTH = r"january|february|march|april|may|june|july|august|september|october|november|december"
_SOON = re.compile(
    r"\b(?:in (?:the next |about |around |less than |under )?(?:\d{1,3}|a few|few|ten|"
    r"fifteen|twenty|thirty|forty|five) ?(?:minutes|mins?)|"
    r"(?:in|within) (?:the next |about |less than |under )?(?:an|one|1|half an|two|2|"
    r"a couple of|3|three|the) hours?|"
    r"(?:before|by|until|for|at) (?:the )?\d{1,2}(?:[:.]\d\d)? ?(?:am|pm|o'?clock|h\b)"
    r"(?: (?:cut-?off|deadline|meeting|call|run|close))?|"
    r"(?:before|by) (?:the |today's |tonight's )?(?:cut-?off|deadline)|"
    r"(?:by|before|until) (?:tonight|this (?:afternoon|evening|morning)|end of (?:the )?"
    r"(?:day|business day|shift)|eod|close of business|cob|noon|lunch ?time|lunch)|"
    r"(?:this|today's|tonight's) (?:cut-?off|deadline|payroll run|payment run)|"
    r"deadline is (?:today|tonight|in)|due (?:today|tonight|this afternoon|in an hour)|"
    r"(?:must|has to|have to|needs? to|should|got to|going to) (?:be )?(?:run|go out|"
    r"ship|be sent|be done|be finished|be paid|run|close|complete|print|go live)"
    r" (?:[a-z]+ ){0,3}?(?:today|tonight|this (?:afternoon|evening|morning)|now)|"
    r"(?:right now|at the moment|currently) in (?:a |the )?(?:meeting|call|presentation)|"
    r"in (?:a |the )?(?:meeting|call|presentation) (?:right )?now|"
    r"(?:customer|client|customers|clients|driver|truck|courier|auditors?) (?:is |are )?"
    r"(?:waiting|on the (?:phone|line))|"
    r"(?:starts?|begins?|is|are) (?:in|at) (?:\d{1,2}(?:[:.]\d\d)? ?(?:am|pm)|"
    r"\d{1,3} ?(?:minutes|mins?))|"
    r"(?:cut-?off|deadline|truck|trucks|lorry|courier|driver|collection|pickup|pick-up) "
    r"(?:is |are |comes? |leaves? |arrives? |closes? )?(?:in (?:a few|a couple of|\d{1,2}|an|"
    r"one|two|three) (?:hours?|minutes|mins)|at \d{1,2}(?:[:.]\d\d)? ?(?:am|pm)?)|"
    r"\d{1,2}[:.]\d\d (?:cut-?off|deadline)|(?:before|by|until) \d{1,2}[:.]\d\d|"
    r"(?:comes?|leaves?|arrives?|departs?|starts?|closes?|runs?|due) at \d{1,2}[:.]\d\d|"
    r"(?:will|we'll|they'll|going to|about to) miss (?:the |our |this |tonight's |today's )?"
    r"(?:[a-z]+ )?(?:trucks?|deadline|cut-?off|shipments?|collection|flight|payroll|run))\b"
)
_PREFERABLY = re.compile(
    r"\b(?:preferably|ideally|hopefully|if possible) (?:today|tonight|before|by|this)\b"
)
_URGENT_WORDS = re.compile(
    r"\b(?:urgent(?:ly)?|asap|a\.s\.a\.p|immediately|right away|straight away|"
    r"emergency|top priority|as soon as possible|critical|please hurry|hurry)\b"
)
_LATER = re.compile(
    r"\b(?:tomorrow(?: morning| afternoon)?|end of (?:the )?week|"
    r"(?:by|before|until|due|within) (?:the end of )?this week|"
    r"(?:by|before|on|next|this|until) (?:" + _DAY + r")|next week|in (?:a |two |2 )?days?|"
    r"(?:starts?|starting|joins?|joining|arrives?) (?:on |next )?(?:" + _DAY + r"|tomorrow|"
    r"next week|the \d{1,2}(?:st|nd|rd|th))|before (?:the )?weekend|by the weekend|"
    r"within (?:a|one|two|2|3|three) (?:days|working days|business days))\b"
)
_RELAXED = re.compile(
    r"\b(?:no (?:rush|hurry|urgency|pressure|deadline)|not (?:urgent|a priority|pressing|"
    r"critical|time[- ]critical|in a hurry|blocking)|(?:isn't|is not|it's not|its not) "
    r"(?:urgent|critical|a priority|blocking)|low priority|whenever (?:convenient|possible|"
    r"you (?:have|get|can)|you guys|someone)|when(?:ever)? (?:you|someone) (?:have|has|get|"
    r"gets|find|finds) (?:a |some )?(?:time|chance|moment|minute|second)|"
    r"at (?:your|some) (?:convenience|point)|in (?:q[1-4]|the (?:first|second|third|fourth|"
    r"next|coming) quarter|the coming (?:weeks|months)|a few (?:weeks|months)|"
    r"(?:" + _MONTH + r"))|(?:next|coming) (?:month|quarter|year|financial year|season)|"
    r"after (?:the )?(?:summer|holidays?|christmas|new year|easter|peak|busy season|"
    r"go-?live|migration|year-?end|stock ?take)|during (?:the )?(?:summer|quiet period)|"
    r"planned (?:downtime|maintenance|outage|work|works)|nice to have|eventually|"
    r"someday|some day|long[- ]term (?:plan|project|idea|wish)|for the future|in future|"
    r"can wait|no deadline|"
    r"(?:no|any) time (?:soon|frame)|not time[- ]sensitive|just (?:curious|wondering|"
    r"fyi|so you know|asking)|for (?:your )?information|when there's time|"
    r"when (?:you|someone) (?:has|have|get|gets) (?:a|the) (?:moment|minute|second|chance)|"
    r"work (?:goes|can go|carries) on|(?:we|i) can (?:still |keep )?(?:work|working)|"
    r"no need to (?:drop everything|rush|hurry|panic)|"
    r"(?:that's|that is|which is|it's|is) (?:fine|ok|okay) for (?:now|a while)|"
    r"(?:is|are) calm about it)\b"
)
_BUSINESS = re.compile(
    r"\b(?:(?:customers?|clients?|shoppers|buyers) (?:cannot|can't|can not|are unable to|"
    r"is unable to|unable to|could not|couldn't|are not able to|is not able to|can no longer)"
    r" (?:pay|order|check ?out|buy|purchase|complete|place|log ?in|get through|reach)|"
    r"(?:web ?shop|online|web|e-?commerce|store|till|pos|card|shop) (?:sales|payments?|"
    r"orders?|checkouts?|transactions?) (?:have |has |are |is )?(?:stopped|halted|failing|"
    r"down|blocked|not (?:coming|going) through)|"
    r"no (?:orders|payments|sales|transactions) (?:are |have )?(?:coming in|come in|"
    r"going through|gone through|being processed|arriving|since)|"
    r"(?:losing|lose|lost) (?:money|sales|revenue|orders|customers|business)|"
    r"(?:production|production line|the line|picking|packing|shipping|dispatch|deliveries|"
    r"invoicing|billing|loading|the warehouse|operations|trucks?|tills|checkouts|the shop|"
    r"the store|sales) (?:is |are |has |have )?(?:completely )?(?:halted|stopped|standing "
    r"still|at a standstill|blocked|down)|"
    r"(?:can't|cannot|can not|unable to|not able to|couldn't|could not) (?:ship|pick|pack|"
    r"dispatch|invoice|load|deliver|take (?:orders|payments)|sell|serve customers|"
    r"process (?:orders|payments))|"
    r"(?:trucks|drivers|couriers|lorries) (?:are )?(?:waiting|queuing|stuck)|"
    r"(?:payroll|payment run|salaries|salary run) (?:won't|will not|cannot|can't|can not|"
    r"didn't|did not|failed to|fails to) (?:run|go|be paid)|"
    r"(?:salaries|staff) (?:won't|will not) be paid|nothing to (?:pick|ship|pack|sell|load)|"
    r"(?:nobody|no one|none of us) (?:[a-z]+ ){0,4}?(?:can|could|is able to) (?:pick|ship|pack|"
    r"sell|load|dispatch|deliver|invoice|take orders|order|pay|buy|check ?out))\b"
)
_SECURITY = re.compile(
    r"\b(?:clicked (?:on )?(?:a|the|this|that) (?:[a-z]+ )?(?:link|attachment)|"
    r"(?:entered|typed|gave|put) (?:in )?my (?:password|credentials|login|details)|"
    r"approved (?:an? |the |one of )?(?:the )?(?:mfa|authenticator|sign-?in|login|push) "
    r"(?:prompt|request|notification)s?|tapped approve|(?:account|mailbox|laptop|pc|password) "
    r"(?:is |was |has been |got |may be |might be )?(?:compromised|hacked|stolen)|"
    r"security (?:breach|incident)|data (?:breach|leak)|ransomware|malware|virus|"
    r"(?:laptop|phone|device) (?:was |has been |got )?stolen|"
    r"(?:lost|left|forgot) (?:my |our |the |a )?(?:work |company )?(?:laptop|phone|mobile|"
    r"tablet|device|usb stick) (?:on|in|at))\b"
)
_BLOCKED = re.compile(
    r"\b(?:(?:nobody|no one|noone|none of us|we|they|i|he|she|the team|people|users|staff|"
    r"everyone|everybody) (?:can't|cannot|can not|couldn't|are unable to|am unable to|"
    r"is unable to|unable to|are not able to|am not able to|is not able to) (?:work|do "
    r"(?:any|our|my|their|his|her) (?:work|jobs?)|do anything|get anything done|"
    r"continue|start work)|(?:can't|cannot|can not|unable to) do (?:my|our|their|his|her) "
    r"(?:job|work)s?|completely (?:blocked|stuck)|at a standstill|work (?:has )?stopped|"
    r"(?:can't|cannot|can not|unable to) do anything|dead in the water|"
    r"(?:is|are) (?:completely |totally )?down|outage|won't (?:turn|switch|power) on|"
    r"(?:doesn't|does not|will not|won't) (?:boot|start up)|locked out|"
    r"(?:can't|cannot|can not|unable to|won't|doesn't|does not|not) [a-z' -]{1,40}? at all|"
    r"(?:can't|cannot|can not|unable to) get past|"
    r"(?:can't|cannot|can not|unable to) (?:log|sign) (?:on|in|into)(?: to)? (?:my |the )?"
    r"(?:laptop|pc|computer|windows|device|machine)|"
    r"(?:can't|cannot|can not|unable to) (?:log|sign) (?:on|in)(?: to)? anything)\b"
)
_WORKAROUND = re.compile(
    r"\b(?:work-?around|for now|for the time being|in the meantime|meanwhile|temporarily|"
    r"as a stopgap|(?:i|we) can (?:still |always )?(?:get|use|print|join|work|send|open|access|"
    r"call|read|do|copy)|still (?:prints|printing|works|working|runs|running|usable|loads|"
    r"opens|sends|connects)|works (?:fine |ok |okay |normally )?(?:on|from|with|in|via) "
    r"(?:another|a different|my other|the other|other|a colleague's|my colleague's|"
    r"the spare|a spare) [a-z-]+|(?:on|from|with) (?:the |a |my )?(?:spare|other|another|"
    r"second|colleague's) (?:pc|laptop|computer|machine|device|browser|phone)|"
    r"(?:for now|in the meantime|meanwhile|temporarily),? (?:i|we|"
    r"they|he|she)(?:'m|'re| am| are| is)? (?:using|use|can|print|printing|work|working|"
    r"use|copy|send|sending|do|doing|type|typing)|(?:i|we|they) (?:can|could) (?:still|"
    r"always|work around)|can still (?:work|use|print|log ?in|access|send|get)|"
    r"using (?:(?:my|the|our|a|his|her) )?[a-z'-]+(?: [a-z'-]+){0,3}? (?:instead|as a stopgap)|"
    r"not (?:a big deal|the end of the world|blocking (?:me|us|anything|work))|"
    r"not stopping (?:me|us))\b"
)
_PAINFUL = re.compile(
    r"\b(?:awkward|painful|tedious|cumbersome|time-consuming|slows? (?:us|me|everyone) down|"
    r"takes (?:much |a lot |far )?longer|(?:a lot of|lots of) (?:extra|manual) work|by hand|"
    r"has to wait|have to wait|on paper|not sustainable|can't keep (?:doing|working))\b"
)
_MINOR = re.compile(
    r"\b(?:cosmetic|minor (?:issue|annoyance|glitch|problem|thing)|small thing|"
    r"(?:just|a bit|slightly|bit) annoying|just (?:the|a) warning|nothing is broken)\b"
)


def _urgency(text: str) -> list[Signal]:
    out: list[Signal] = []
    for m in _RELAXED.finditer(text):
        out.append(Signal("relaxed", "urgency", "low", m.group(0), "no time pressure"))
    for m in _SOON.finditer(text):
        out.append(Signal("deadline", "urgency", "high", m.group(0), "needed within hours"))
    for m in _URGENT_WORDS.finditer(text):
        if _negated(text, m.start()):
            continue
        out.append(Signal("urgent", "urgency", "high", m.group(0), "the requester says urgent"))
    for m in _BUSINESS.finditer(text):
        if _negated(text, m.start()):
            continue
        out.append(
            Signal("business", "urgency", "high", m.group(0), "revenue or operations stopped")
        )
    for m in _BLOCKED.finditer(text):
        if _negated(text, m.start()):
            continue
        out.append(Signal("blocked", "urgency", "high", m.group(0), "work is blocked now"))
    for m in _SECURITY.finditer(text):
        out.append(
            Signal("security", "urgency", "high", m.group(0), "a possible security breach: now")
        )
    for m in _PREFERABLY.finditer(text):
        out.append(Signal("deadline", "urgency", "medium", m.group(0), "wanted soon"))
    for m in _PAINFUL.finditer(text):
        out.append(Signal("painful", "urgency", "medium", m.group(0), "the workaround costs"))
    for m in _MINOR.finditer(text):
        out.append(Signal("minor", "urgency", "low", m.group(0), "a minor fault: work goes on"))
    for m in _LATER.finditer(text):
        out.append(Signal("deadline", "urgency", "medium", m.group(0), "needed within days"))
    for m in _WORKAROUND.finditer(text):
        out.append(Signal("workaround", "urgency", "low", m.group(0), "a workaround exists"))
    return out


# -- change requests (type) ----------------------------------------------------------------

_CHANGE_VERB = (
    r"change|modify|adjust|alter|amend|update|reconfigure|configure|roll ?out|deploy|"
    r"migrate|upgrade|introduce|implement|switch|move|replace|extend|increase|decrease|"
    r"reduce|raise|lower|retire|decommission|automate|restructure|redesign|set up|"
    r"enable|disable|rename|consolidate|standardi[sz]e|harmoni[sz]e"
)
_CHANGE_OBJECT = (
    r"process|processes|workflow|procedure|configuration|config|settings?|rules?|policy|"
    r"policies|schedule|timing|interval|waves?|layout|template|routing|system|systems|"
    r"server|servers|firmware|version|platform|release|licen[cs]es?|setup|set-up|structure|"
    r"logic|parameters?|thresholds?|limits?|prices?|pricing|discounts?|tax|vat|"
    r"approval|approvals|integration|interface|mapping|network|domain|dns|firewall|"
    r"certificates?|backup|backups|retention|erp|sap|wms|crm|webshop|website|"
    r"payment provider|all (?:laptops|pcs|devices|users|printers|phones)|fleet|"
    r"share|file share|shares|drive|mailboxes|site|sites|queue|queues|hotline|ports?|"
    r"firewall|vlan|wi-?fi network|ssid|sso|mfa policy|timeout|retention policy"
)
_CHANGE = re.compile(
    r"^(?:change|rfc|cr)(?: request)? ?[:#-]|"
    r"\b(?:change request|request for change|rfc|standard change|normal change|"
    r"maintenance window|change window|change advisory|cab approval|"
    r"(?:please|pls|kindly|can you|could you|can we|could we|we'd like to|we would like to|"
    r"i'd like to|i would like to|we want to|want to|wants to|we need to|need to|needs to|"
    r"asked (?:us )?to|plan to|planning to|intend to|propose to|request to|requesting to|"
    r"would like you to|would like to|like to) (?:please )?(?:[a-z-]+ ){0,2}?(?P<verb>"
    + _CHANGE_VERB
    + r")"
    r" (?:to |of |in |on |over )?(?:the |our |all |a |an |its |their |this |that )?"
    r"(?:[a-z0-9-]+ ){0,4}?(?P<object>" + _CHANGE_OBJECT + r")|"
    r"(?:want|wants|would like|need|needs|asked for|asks for|requests?) (?:the |our |a |all )?"
    r"(?:[a-z0-9-]+ ){0,4}?(?P<object2>" + _CHANGE_OBJECT + r") (?:to be )?"
    r"(?:changed|modified|adjusted|updated|reconfigured|replaced|moved|extended|amended|"
    r"migrated|upgraded|rolled out|automated|switched|increased|reduced|lowered|raised)|"
    r"(?:open|close|allow|block) (?:tcp |udp )?(?:port|ports) \d+|firewall (?:rule|change)|"
    r"(?:roll(?:ing)? ?out|deploy(?:ing)?|migrat(?:e|ing)|upgrad(?:e|ing)|install(?:ing)?) "
    r"(?:[a-z0-9-]+ ){0,5}?(?:over|during|at|on|in) (?:the )?(?:weekend|night|evening|"
    r"maintenance window|change window|" + _DAY + r"))\b"
)
_PERSONAL = re.compile(
    r"\b(?:my|me|our new|his|her|a new) (?:password|account|access|email address|"
    r"phone number|number|name|display name|desk|seat|laptop|phone|mailbox|permissions?|"
    r"role|signature|photo|picture|surname|address|screen|monitor|headset|keyboard|mouse)\b"
)
_FAULT = re.compile(
    r"\b(?:not working|stopped working|doesn't work|does not work|isn't working|broken|"
    r"broke|keeps? (?:crashing|failing|freezing|dropping)|error|errors|fails|failing|"
    r"failed|crash(?:es|ed|ing)?|can't|cannot|can not|unable to|won't|no longer|"
    r"is down|are down|went down|outage|since the (?:change|update|upgrade|migration))\b"
)


def _change(text: str) -> list[Signal]:
    m = _CHANGE.search(text)
    if m is None:
        return []
    if _FAULT.search(text) and not re.search(
        r"\b(?:change request|request for change|rfc|standard change|normal change)\b", text
    ):
        return []  # a fault, perhaps after a change: an incident
    if _PERSONAL.search(m.group(0)):
        return []  # "change my password": a service request
    return [
        Signal(
            "change",
            "type",
            "change",
            m.group(0),
            "asks to change a service, process or configuration: a change",
        )
    ]


_IMPROVEMENT = re.compile(
    r"\b(?:idea|suggestion|suggest|feature request|wish|wishlist|"
    r"it would be (?:more |much |really |so )?(?:nice|great|helpful|handy|useful|good|better|"
    r"efficient|easier|faster)|would (?:love|be nice|be great|be handy|help a lot)|"
    r"would it be possible to (?:add|have|get|"
    r"make|show)|nothing is broken|wouldn't it be)\b"
)
_QUESTION = re.compile(
    r"(?:^|[.!?] )(?:how|who|where|what|which|is it|is there|are there|do i|do we|does|"
    r"should i|should we|am i|are we|may i|can we still|is this|is that)\b[^.!?]{0,200}\?"
)
_SERVICE = re.compile(
    r"\b(?:(?:please|pls|can (?:someone|you|i|we)|could (?:someone|you|i|we)|i need|we need|"
    r"i'd like|i would like|requesting|request for|may i have|i want) (?:please )?"
    r"(?:[a-z]+ ){0,2}?(?:install|give|grant|create|add|order|set up|reset|unlock|provide|bring|"
    r"send|get|have|issue|replace|new|access|a new|an? (?:account|licen[cs]e|laptop|phone|"
    r"monitor|headset|badge|mailbox))|(?:forgot|forgotten|reset|expired) (?:my )?password|"
    r"new (?:starter|joiner|hire|employee|colleague) (?:starts|starting|joins|joining|on)|"
    r"(?:access|permission|permissions|rights) (?:to|for) (?:the )?[a-z-]+)\b"
)


def _kind_cues(text: str) -> list[Signal]:
    out = []
    m = _IMPROVEMENT.search(text)
    if (
        m
        and (m.group(0) == "nothing is broken" or not _FAULT.search(text))
        and not _negated(text, m.start())
    ):
        out.append(Signal("improvement", "type", "improvement", m.group(0), "a suggestion"))
    faulty = _FAULT.search(text)
    m = _QUESTION.search(text)
    if m and not faulty:
        out.append(Signal("question", "type", "question", m.group(0).strip(" .!?"), "asks how"))
    m = _SERVICE.search(text)
    if m and not faulty:
        out.append(Signal("service", "type", "service_request", m.group(0), "a standard request"))
    return out


# -- decisions -------------------------------------------------------------------------------


def read_request(request: dict[str, Any]) -> Reading:
    text = _prepare(f"{request.get('title') or ''}. {request.get('description') or ''}")
    users = request.get("users_affected")
    signals = _scope(text, users if isinstance(users, int) else None)
    signals += _urgency(text)
    signals += _change(text)
    if not signals or signals[-1].kind != "change":
        signals += _kind_cues(text)
    if request.get("vip"):
        signals.append(
            Signal("vip", "urgency", "high", "", "the caller is flagged VIP: urgency raised")
        )
    return Reading(
        signals,
        one_customer=bool(_ONE_CUSTOMER.search(text)),
    )


def _head(s: Signal) -> int:
    m = re.search(r"\d+", s.text)
    if m:
        return int(m.group(0))
    return max((v for k, v in _NUMBER_WORDS.items() if k in s.text), default=0)


def _rank(level: str) -> int:
    return LEVELS.index(level) if level in LEVELS else -1


def decide_impact(reading: Reading, kind: str | None) -> Signal:
    """The widest scope the request states; else the default for its kind."""
    scope = reading.of("impact")
    by = {k: [s for s in scope if s.kind == k] for k in {s.kind for s in scope}}
    field_, heads = by.get("users_field", []), by.get("headcount", [])
    places, groups, single = by.get("place", []), by.get("group", []), by.get("single", [])
    if field_:
        f = field_[0]
        if f.level == "medium" and places and int(f.text.split()[0]) >= 10:
            return Signal(
                "users_field",
                "impact",
                "high",
                f.text,
                f"{f.text} and {places[0].text!r}: {places[0].reading}",
            )
        return f
    if heads:
        # a stated head-count says how many; "the whole floor" with 10+ people is still
        # the whole floor
        best = max(heads, key=lambda s: _rank(s.level))
        big = [s for s in heads if _head(s) >= 10]
        if places and big and best.level != "high":
            return Signal(
                "place",
                "impact",
                "high",
                places[0].text,
                f"{places[0].reading} ({big[0].text!r})",
            )
        return best
    if places:
        return places[0]
    if by.get("everyone"):
        return by["everyone"][0]
    if groups:
        return max(groups, key=lambda s: _rank(s.level))
    if single:
        return single[0]
    if kind in ("change", "improvement"):
        return Signal(
            "default",
            "impact",
            "medium",
            "",
            f"{'a change' if kind == 'change' else 'an improvement'} to a shared service "
            "affects the group that uses it",
            explicit=False,
        )
    who = "one customer" if reading.one_customer else "one requester"
    return Signal(
        "default", "impact", "low", "", f"no group or head-count named: {who}", explicit=False
    )


def decide_urgency(reading: Reading, kind: str | None) -> Signal:
    """Time pressure and business effect against relaxed timing and workarounds."""
    sig = reading.of("urgency")
    by = {k: [s for s in sig if s.kind == k] for k in {s.kind for s in sig}}
    relaxed, workaround = by.get("relaxed", []), by.get("workaround", [])
    high_now = by.get("deadline", []) and [s for s in by["deadline"] if s.level == "high"]
    business, blocked, urgent = by.get("business", []), by.get("blocked", []), by.get("urgent")
    later = [s for s in by.get("deadline", []) if s.level == "medium"]
    if by.get("vip"):
        return by["vip"][0]
    if by.get("security"):
        return by["security"][0]
    if by.get("minor") and not high_now and not business:
        return by["minor"][0]
    if relaxed and not high_now and not business:
        return relaxed[0]
    if high_now:
        return high_now[0]
    if business:
        return business[0]
    if blocked and not workaround:
        return blocked[0]
    if urgent and not workaround:
        return urgent[0]
    painful = by.get("painful", [])
    if workaround:
        if later or blocked or urgent or painful:
            w = workaround[0]
            return Signal(
                "workaround",
                "urgency",
                "medium",
                w.text,
                "a workaround exists, but " + (later or blocked or urgent or painful)[0].reason(),
            )
        return workaround[0]
    if later:
        return later[0]
    if kind in ("question", "improvement", "service_request", "change"):
        what = {
            "question": "a question",
            "improvement": "a suggestion",
            "service_request": "a standard request",
            "change": "a planned change",
        }[kind]
        return Signal(
            "default", "urgency", "low", "", f"{what} with no deadline stated", explicit=False
        )
    if kind == "incident":
        return Signal(
            "default",
            "urgency",
            "medium",
            "",
            "a fault with no deadline, no workaround and no stopped business stated: "
            "work is hampered",
            explicit=False,
        )
    return Signal("default", "urgency", "", "", "nothing in the request", explicit=False)


def describe(signals: list[Signal]) -> list[dict[str, Any]]:
    """Signals as the card shows them, explicit ones first, each once."""
    seen: set[tuple[str, str]] = set()
    out = []
    for s in sorted(signals, key=lambda s: not s.explicit):
        key = (s.target, s.text or s.reading)
        if key in seen:
            continue
        seen.add(key)
        out.append({"signal": s.kind, "text": s.text, "reading": s.reading, "points_to": s.level})
    return out
