#include "utf8text.h"

#include <algorithm>

namespace Sluice::Sim {

namespace {

bool isLeadByte(char c)
{
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
}

} // namespace

qint64 utf8Length(std::string_view text)
{
    return std::count_if(text.begin(), text.end(), isLeadByte);
}

qint64 appendUtf8Prefix(std::string &out, std::string_view text, qint64 maxChars)
{
    qint64 chars = 0;
    std::size_t end = 0;
    for (; end < text.size(); ++end) {
        if (isLeadByte(text[end])) {
            if (chars == maxChars)
                break;
            ++chars;
        }
    }
    out.append(text.substr(0, end));
    return chars;
}

std::vector<std::string> splitUtf8(std::string_view text, qint64 parts)
{
    const qint64 length = utf8Length(text);
    parts = std::clamp<qint64>(parts, 1, std::max<qint64>(1, length));
    std::vector<std::string> out;
    out.reserve(std::size_t(parts));
    for (qint64 i = 0; i < parts; ++i) {
        // Piece i holds code points [length * i / parts, length * (i + 1) / parts).
        const qint64 count = length * (i + 1) / parts - length * i / parts;
        std::string piece;
        [[maybe_unused]] const qint64 taken = appendUtf8Prefix(piece, text, count);
        text.remove_prefix(piece.size());
        Q_ASSERT(taken == count);
        out.push_back(std::move(piece));
    }
    return out;
}

} // namespace Sluice::Sim
