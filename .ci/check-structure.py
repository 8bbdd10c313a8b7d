#!/usr/bin/env python3
"""Structure rules of core/ (README "Architecture"), checked in CI (ctest core_structure):

1. No include cycle between core's folders (util < config < io < net < limit/retry/metrics/... < engine).
2. The transport and its worker do not include each other's headers.
3. No function in core/ is longer than MAX_LINES lines unless the comment right above it says why,
   starting with "Long:" (clang-format puts a function's braces in column 0, which is what this reads).
4. Test registrations are plain CMakeLists.txt: no include(... OPTIONAL) fragments.
"""
import os
import re
import sys

MAX_LINES = 80
root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), '..'))
core = os.path.join(root, 'core')
problems = []

include = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
files = []
for folder, _, names in os.walk(core):
    for name in names:
        if name.endswith(('.h', '.cpp')):
            files.append(os.path.join(folder, name))

# 1. folder graph
edges = {}
for path in files:
    here = os.path.relpath(path, core).split(os.sep)[0]
    with open(path, encoding='utf-8') as f:
        for line in f:
            m = include.match(line)
            if m and '/' in m.group(1):
                there = m.group(1).split('/')[0]
                if there != here and os.path.isdir(os.path.join(core, there)):
                    edges.setdefault(here, set()).add(there)


def cycle_from(start):
    stack = [(start, [start])]
    while stack:
        node, trail = stack.pop()
        for nxt in sorted(edges.get(node, ())):
            if nxt == start:
                return trail + [start]
            if nxt not in trail:
                stack.append((nxt, trail + [nxt]))
    return None


seen_cycles = set()
for folder in sorted(edges):
    c = cycle_from(folder)
    if c and frozenset(c) not in seen_cycles:
        seen_cycles.add(frozenset(c))
        problems.append('include cycle between core folders: ' + ' -> '.join(c))

# 2. transport and worker
def includes_of(rel):
    with open(os.path.join(core, rel), encoding='utf-8') as f:
        return [m.group(1) for m in map(include.match, f) if m]

for rel in ('net/transportworker.h', 'net/transportworker.cpp'):
    for inc in includes_of(rel):
        if inc.endswith(('transport.h', 'qnamtransport.h')) and 'worker' not in inc:
            problems.append('%s includes %s: the worker must not know the transport' % (rel, inc))
for rel in ('net/transport.h', 'net/qnamtransport.h'):
    for inc in includes_of(rel):
        if 'transportworker' in inc:
            problems.append('%s includes %s: headers of the transport must not need the worker' % (rel, inc))

# 3. function length
signature_end = re.compile(r'^\S.*\)\s*(const)?\s*(override)?\s*(noexcept)?\s*$|^\s+[:,].*$|^\S.*\)\s*->.*$')
for path in files:
    if not path.endswith('.cpp'):
        continue
    with open(path, encoding='utf-8') as f:
        lines = f.read().split('\n')
    i = 0
    while i < len(lines):
        if lines[i] == '{' and i > 0 and not lines[i - 1].startswith(('namespace', 'struct', 'class', 'enum')) \
                and not lines[i - 1].rstrip().endswith(('=', ';')):
            start = i
            j = i + 1
            while j < len(lines) and lines[j] != '}':
                j += 1
            length = j - start + 1
            if length > MAX_LINES:
                # the signature: back to the line that starts at column 0
                k = start - 1
                while k > 0 and (lines[k].startswith((' ', '\t')) or lines[k] == ''):
                    k -= 1
                above = [l.strip() for l in lines[max(0, k - 8):k]]
                comment = [l for l in above if l.startswith('//')]
                if not any(l.lstrip('/ ').startswith('Long:') for l in comment):
                    problems.append('%s:%d: %s is %d lines (more than %d without a "// Long: why" comment)'
                                    % (os.path.relpath(path, root), k + 1, lines[k].strip()[:70], length, MAX_LINES))
            i = j
        i += 1

# 4. no OPTIONAL test fragments
for folder, _, names in os.walk(os.path.join(root, 'tests')):
    for name in names:
        if name == 'CMakeLists.txt' or name.endswith('.cmake'):
            path = os.path.join(folder, name)
            with open(path, encoding='utf-8') as f:
                text = f.read()
            if re.search(r'include\s*\([^)]*OPTIONAL', text):
                problems.append('%s: include(... OPTIONAL): list tests in the folder\'s CMakeLists.txt'
                                % os.path.relpath(path, root))
            if name.endswith('.cmake'):
                problems.append('%s: a test fragment; list tests in the folder\'s CMakeLists.txt'
                                % os.path.relpath(path, root))

for p in problems:
    print(p)
print('core structure: %d problem(s); %d folders, %d files' % (len(problems), len(edges), len(files)))
sys.exit(1 if problems else 0)
