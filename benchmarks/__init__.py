"""Speed benchmarks of moelogit's fit against its peers, and the studies behind its defaults."""


def choices(parser, value: str, allowed, what: str) -> list[str]:
    """The comma-separated names in ``value``; an argparse error for any not in ``allowed``."""
    names = value.split(",")
    unknown = sorted(set(names) - set(allowed))
    if unknown:
        parser.error(f"unknown {what} {unknown}: choose from {list(allowed)}")
    return names
