"""Identifier case conversions."""


def split_words(name):
    """Split an identifier in any common case style into lower-case words."""
    words = []
    current = ""
    for i, ch in enumerate(name):
        if ch in "_- ":
            if current:
                words.append(current)
            current = ""
            continue
        if ch.isupper() and current:
            prev = name[i - 1]
            nxt = name[i + 1] if i + 1 < len(name) else ""
            if prev.islower() or prev.isdigit() or (nxt and nxt.islower()):
                words.append(current)
                current = ""
        current += ch
    if current:
        words.append(current)
    return [w.lower() for w in words]


def snake_case(name):
    return "_".join(split_words(name))


def kebab_case(name):
    return "-".join(split_words(name))


def camel_case(name):
    words = split_words(name)
    if not words:
        return ""
    return words[0] + "".join(w.capitalize() for w in words[1:])


def pascal_case(name):
    return "".join(w.capitalize() for w in split_words(name))
