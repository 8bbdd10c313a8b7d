#pragma once

#include <QtGlobal>

#include <string>
#include <string_view>
#include <vector>

namespace Sluice::Sim {

/// Code points in UTF-8 text (continuation bytes are not counted; invalid bytes count as one each).
qint64 utf8Length(std::string_view text);

/// Appends at most `maxChars` code points of `text` to `out`; returns how many were appended.
qint64 appendUtf8Prefix(std::string &out, std::string_view text, qint64 maxChars);

/// Cuts `text` into `parts` pieces of as equal a number of code points as possible, never inside a
/// code point. `parts` is clamped to [1, utf8Length(text)] (one empty piece for empty text).
std::vector<std::string> splitUtf8(std::string_view text, qint64 parts);

} // namespace Sluice::Sim
