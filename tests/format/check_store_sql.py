#!/usr/bin/python3
"""Parameterised SQL only in libs/store: fails when the C++ sources of a directory (default
libs/store/src) splice a value into SQL text the usual ways:

  - an escaping call (libpqxx quote/quote_raw/quote_name/esc/esc_raw/esc_like/unesc_raw,
    libpq PQescape*): a value escaped into SQL instead of bound as a parameter;
  - a string literal joined with `+` (SQL built as "... = " + value);
  - a number formatted into text that is joined (to_string inside StrCat/StrAppend or next
    to `+`).

String literals and comments are blanked before matching, so SQL text such as
"count + 1" never counts. SQL built from constant fragments with absl::StrCat (column lists,
TimestampOf("$1")) passes: values go as parameters (libs/store/src/pg_params.h). What a
pattern cannot tell (a value passed to StrCat by name) is for review.

  check_store_sql.py [DIR]      check DIR; exit 1 and list the findings when any
  check_store_sql.py --self-test
ALLOWED lists `file name: line text` exceptions, each with its reason.
"""
import os
import re
import sys

# file name -> stripped code lines that may match, with the reason.
ALLOWED = {
    # (none today: add "file.cc": {"<line as printed>": "why"} with a reason)
}

RULES = [
    ("escaping call (bind the value as a parameter)",
     re.compile(r"(?<![\w.])(?:\w+(?:\.|->|::))?(?:quote|quote_raw|quote_name|esc|esc_raw|"
                r"esc_like|unesc_raw)\s*\(|\bPQescape\w*\s*\(")),
    ("string literal joined with + (SQL text built around a value)",
     re.compile(r'""\s*\+(?!\+)|(?<!\+)\+\s*""')),
    ("number formatted into joined text",
     re.compile(r"\b(?:StrCat|StrAppend)\s*\([^;]*\bto_string\s*\(|"
                r"\bto_string\s*\([^;]*?\)\s*\+(?!\+)|(?<!\+)\+\s*(?:std::)?to_string\s*\(")),
]


def blank(code):
    """The code with comments removed and every string/char literal emptied ("" / '')."""
    out = []
    i, n = 0, len(code)
    while i < n:
        c = code[i]
        if code.startswith("//", i):
            j = code.find("\n", i)
            i = n if j < 0 else j
        elif code.startswith("/*", i):
            j = code.find("*/", i + 2)
            out.append("\n" * code.count("\n", i, n if j < 0 else j))
            i = n if j < 0 else j + 2
        elif c == "R" and code.startswith('R"', i) and (i == 0 or not code[i - 1].isalnum()):
            m = re.match(r'R"([^(\s]*)\(', code[i:])
            end = code.find(")" + m.group(1) + '"', i)
            out.append('""' + "\n" * code.count("\n", i, end))
            i = end + len(m.group(1)) + 2
        elif c in "\"'":
            j = i + 1
            while j < n and code[j] != c:
                j += 2 if code[j] == "\\" else 1
            out.append(c + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def findings(name, code):
    allowed = ALLOWED.get(name, {})
    found = []
    # Statements may span lines: match per statement-ish chunk, report the first line.
    lines = blank(code).split("\n")
    source = code.split("\n")
    for no, line in enumerate(lines, 1):
        joined = line
        # A call or expression continued on the next lines (no ';' yet).
        k = no
        while ";" not in joined and "{" not in joined and k < len(lines) and k - no < 8:
            joined += " " + lines[k].strip()
            k += 1
        for why, rule in RULES:
            if rule.search(line) or (rule.search(joined) and not rule.search(
                    " ".join(x.strip() for x in lines[no:k]))):
                text = source[no - 1].strip() if no - 1 < len(source) else line.strip()
                if text not in allowed:
                    found.append(f"{name}:{no}: {why}: {text}")
                break
    return found


def check(directory):
    found = []
    for name in sorted(os.listdir(directory)):
        if name.endswith((".cc", ".h")):
            with open(os.path.join(directory, name), encoding="utf-8") as f:
                found += findings(name, f.read())
    return found


BAD = [
    'tx.exec("SELECT 1 FROM t WHERE a = " + tx.quote(name));',
    'std::string s = c.quote(x);',
    'std::string s = conn.esc(x);',
    'tx.exec(absl::StrCat("DELETE FROM t WHERE id = ", std::to_string(id)));',
    'tx.exec("LIMIT " + std::to_string(n));',
    'tx.exec(sql + "\'" + name + "\'");',
    'const std::string q = prefix + " VALUES ";',
    'tx.exec(R"(SELECT * FROM t WHERE a = )" + v);',
    'absl::StrCat(\n  "SELECT ",\n  std::to_string(n));',
    'PQescapeLiteral(conn, s, n);',
]
GOOD = [
    'tx.exec_params("SELECT 1 FROM t WHERE a = $1", name);',
    'tx.exec("UPDATE t SET n = n + 1 WHERE a + b > \\"x\\"");',
    'tx.exec_params(absl::StrCat("SELECT ", Columns(), " FROM t WHERE at >= ", TimestampOf("$1")), us);',
    'const std::string id = std::to_string(trace_id);  // a parameter',
    '// tx.quote(x) is forbidden',
    'auto s = R"(SELECT a + b, quote(x) FROM t)";',
    'i += 1; n++ + m;',
]


def self_test():
    ok = True
    for code in BAD:
        if not findings("bad.cc", code):
            print(f"self-test: not flagged: {code}")
            ok = False
    for code in GOOD:
        if f := findings("good.cc", code):
            print(f"self-test: wrongly flagged: {f}")
            ok = False
    print("self-test " + ("passed" if ok else "FAILED") + f": {len(BAD)} bad, {len(GOOD)} good")
    return ok


def main(argv):
    if argv[1:] == ["--self-test"]:
        return 0 if self_test() else 1
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    directory = argv[1] if len(argv) > 1 else os.path.join(root, "libs", "store", "src")
    found = check(directory)
    for f in found:
        print(f)
    if found:
        print(f"{len(found)} value(s) spliced into SQL text in {directory}: bind them as "
              "parameters (libs/store/src/pg_params.h)")
        return 1
    print(f"no value spliced into SQL text in {directory}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
