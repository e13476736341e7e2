#!/usr/bin/env python3
"""Fails when modules of a crate import each other in a cycle.

For every crate's src/, each file is a module. An edge u -> v is drawn for
every path u names into v (`crate::a::b`, `super::x`, `self::x`, and names
the crate root re-exports, resolved to the module that defines them). Edges
between a module and its own ancestors or descendants (a parent declaring
and re-exporting its children, a child using its parent) are the tree
itself and not counted; any other edge joins the two sibling subtrees
below the modules' closest common ancestor, and a cycle among siblings is
an error.

    .ci/module-cycles.py auth-core auth-tower auth-axum-extras
"""

import os
import re
import sys

PATH = re.compile(r"\b(crate|super|self)((?:::[A-Za-z_][A-Za-z0-9_]*)+)")
GROUP = re.compile(r"\b(crate|super|self)::((?:[A-Za-z_][A-Za-z0-9_]*::)*)\{([^{}]*)\}", re.S)


def modules(src):
    """The modules of the library (lib.rs) or, without one, the binary
    (main.rs) rooted in `src`; `bin/` holds other crates."""
    root_file = "lib.rs" if os.path.exists(os.path.join(src, "lib.rs")) else "main.rs"
    other_root = "main.rs" if root_file == "lib.rs" else "lib.rs"
    mods = {}
    for root, dirs, files in os.walk(src):
        dirs[:] = [d for d in dirs if not (root == src and d in ("bin", "tests", "benches"))]
        for f in files:
            if not f.endswith(".rs") or (root == src and f == other_root):
                continue
            rel = os.path.relpath(os.path.join(root, f), src)[:-3].split(os.sep)
            if rel[-1] == "mod":
                rel = rel[:-1]
            if rel == [root_file[:-3]]:
                rel = []
            mods[tuple(rel)] = os.path.join(root, f)
    return mods if () in mods else {}


def strip_tests(text):
    # Test modules may import anything; they are not the crate's structure.
    m = re.search(r"#\[cfg\(test\)\]\s*mod tests", text)
    text = text if not m else text[: m.start()]
    # Documentation is no import: doc comments, and the links of
    # `doc = "..."` attributes (feature-dependent doc links).
    text = re.sub(r'doc\s*=\s*"(?:[^"\\]|\\.)*"', "", text)
    return re.sub(r"//[^\n]*", "", text)


def root_exports(mods):
    exports = {}
    text = strip_tests(open(mods[()]).read())
    for m in re.finditer(r"pub use ([a-z_][a-z0-9_]*)(?:::([^;{]*))?(?:\{([^}]*)\})?;", text):
        head, tail, group = m.group(1), m.group(2) or "", m.group(3)
        names = [n.strip().split(" as ")[-1] for n in group.split(",")] if group else [tail.split("::")[-1]]
        for n in names:
            if n:
                exports[n] = (head,)
    return exports


def resolve(mods, here, kind, parts, exports):
    base = () if kind == "crate" else (here[:-1] if kind == "super" else here)
    path = list(base) + [p for p in parts if p]
    # The deepest module the path names.
    for i in range(len(path), -1, -1):
        if tuple(path[:i]) in mods:
            target = tuple(path[:i])
            if target == () and kind == "crate" and path and path[0] in exports:
                return exports[path[0]]
            return target
    return None


def edges(mods):
    exports = root_exports(mods)
    out = set()
    for here, file in mods.items():
        text = strip_tests(open(file).read())
        found = []
        for m in GROUP.finditer(text):
            prefix = [p for p in m.group(2).split("::") if p]
            for item in m.group(3).split(","):
                first = item.strip().split("::")[0].split(" as ")[0].strip()
                if first:
                    found.append((m.group(1), prefix + [first]))
        for m in PATH.finditer(text):
            found.append((m.group(1), m.group(2).split("::")[1:]))
        for kind, parts in found:
            target = resolve(mods, here, kind, parts, exports)
            if target is not None and target != here:
                out.add((here, target))
    return out


def sibling_edges(pairs):
    out = set()
    for u, v in pairs:
        k = 0
        while k < min(len(u), len(v)) and u[k] == v[k]:
            k += 1
        if k == len(u) or k == len(v):
            continue  # ancestor and descendant: the tree itself
        out.add((u[: k + 1], v[: k + 1]))
    return out


def cycles(graph):
    adj = {}
    for u, v in graph:
        adj.setdefault(u, set()).add(v)
    seen, stack, found = {}, [], []

    def visit(n):
        seen[n] = 1
        stack.append(n)
        for m in sorted(adj.get(n, ())):
            if seen.get(m) == 1:
                found.append(stack[stack.index(m):] + [m])
            elif m not in seen:
                visit(m)
        stack.pop()
        seen[n] = 2

    for n in sorted(adj):
        if n not in seen:
            visit(n)
    return found


def main(crates):
    bad = False
    for crate in crates:
        src = os.path.join(crate, "src")
        mods = modules(src if os.path.isdir(src) else crate)
        if not mods:
            print(f"{crate}: no lib.rs or main.rs", file=sys.stderr)
            sys.exit(2)
        for cycle in cycles(sibling_edges(edges(mods))):
            bad = True
            print(f"{crate}: import cycle: " + " -> ".join("::".join(m) or "crate" for m in cycle))
    if bad:
        sys.exit(1)
    print("no import cycles between modules in: " + ", ".join(crates))


if __name__ == "__main__":
    main(sys.argv[1:])
