"""Checks HTML files the way a strict reader would, with Python's html.parser.

For each file given: every element opened is closed, in order (void elements and
self-closing SVG shapes aside), nothing is left open at the end, and nothing is fetched
from the network (no src=, no stylesheet link, no http(s):// or // in href). Prints one
JSON object: {path: {"errors": [...], "hrefs": [...], "ladders": n, "svgs": n}}.
"""
import json
import sys
from html.parser import HTMLParser

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Checker(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack = []
        self.errors = []
        self.hrefs = []
        self.ladders = 0
        self.svgs = 0

    def attributes(self, tag, attrs):
        for name, value in attrs:
            value = value or ""
            if name == "src":
                self.errors.append(f"<{tag}> fetches {value}")
            if name in ("href", "xlink:href"):
                if value.startswith(("http:", "https:", "//")):
                    self.errors.append(f"<{tag}> links to the network: {value}")
                self.hrefs.append(value)
        if tag == "link":
            self.errors.append("a <link> element")
        if tag == "svg":
            self.svgs += 1
            if "ladder" in (dict(attrs).get("class") or "").split():
                self.ladders += 1

    def handle_starttag(self, tag, attrs):
        self.attributes(tag, attrs)
        if tag not in VOID:
            self.stack.append((tag, self.getpos()))

    def handle_startendtag(self, tag, attrs):
        self.attributes(tag, attrs)

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack:
            self.errors.append(f"</{tag}> at {self.getpos()} closes nothing")
            return
        open_tag, where = self.stack.pop()
        if open_tag != tag:
            self.errors.append(f"</{tag}> at {self.getpos()} closes <{open_tag}> opened at {where}")


def check(path):
    checker = Checker()
    with open(path, encoding="utf-8") as f:
        text = f.read()
    if not text.startswith("<!DOCTYPE html>"):
        checker.errors.append("no <!DOCTYPE html> first")
    checker.feed(text)
    checker.close()
    for tag, where in checker.stack:
        checker.errors.append(f"<{tag}> opened at {where} is never closed")
    return {"errors": checker.errors, "hrefs": checker.hrefs, "ladders": checker.ladders, "svgs": checker.svgs}


if __name__ == "__main__":
    print(json.dumps({path: check(path) for path in sys.argv[1:]}))
