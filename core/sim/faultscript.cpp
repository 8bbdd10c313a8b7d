#include "faultscript.h"

#include "sim/prompt.h"

#include <algorithm>

namespace Sluice::Sim {

namespace {

constexpr qint64 kMaxDelayMs = 24LL * 3600 * 1000;

bool parseInt(std::string_view text, qint64 &value)
{
    if (text.empty() || text.size() > 12)
        return false;
    qint64 v = 0;
    for (const char c : text) {
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    value = v;
    return true;
}

bool isTrue(std::string_view value)
{
    return value == "1" || value == "true";
}

std::string_view trimmedView(std::string_view s)
{
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
        s.remove_suffix(1);
    return s;
}

} // namespace

std::optional<Directive> FaultScript::take(const Prompt &prompt)
{
    std::optional<Directive> directive = find(prompt);
    if (!directive || directive->times < 0)
        return directive;
    int &uses = m_uses[directive->key];
    if (uses >= directive->times)
        return std::nullopt;
    ++uses;
    return directive;
}

std::optional<Directive> FaultScript::find(const Prompt &prompt)
{
    static constexpr std::string_view marker = "@sim(";
    for (const std::string_view piece : prompt.pieces()) {
        const std::size_t start = piece.find(marker);
        if (start == std::string_view::npos)
            continue;
        const std::size_t close = piece.find(')', start);
        if (close == std::string_view::npos)
            continue;
        std::string_view args = piece.substr(start + marker.size(), close - start - marker.size());
        Directive directive;
        while (!args.empty()) {
            const std::size_t comma = args.find(',');
            const std::string_view item = args.substr(0, comma);
            args = comma == std::string_view::npos ? std::string_view() : args.substr(comma + 1);
            const std::size_t eq = item.find('=');
            if (eq != std::string_view::npos)
                applyKey(directive, trimmedView(item.substr(0, eq)), trimmedView(item.substr(eq + 1)));
        }
        normalise(directive);
        directive.key = scopeKey(piece.substr(start, close - start + 1), prompt);
        return directive;
    }
    return std::nullopt;
}

void FaultScript::applyKey(Directive &d, std::string_view key, std::string_view value)
{
    qint64 n = 0;
    const bool isNumber = parseInt(value, n);
    if (key == "status" && isNumber)
        d.status = static_cast<int>(n);
    else if (key == "times" && isNumber)
        d.times = static_cast<int>(std::min<qint64>(n, 1 << 30));
    else if (key == "retry_after" && isNumber)
        d.retryAfterS = n;
    else if (key == "retry_after_ms" && isNumber)
        d.retryAfterMs = n;
    else if (key == "delay_ms" && isNumber)
        d.delayMs = std::min(n, kMaxDelayMs);
    else if (key == "reset")
        d.reset = isTrue(value);
    else if (key == "code" && !value.empty())
        d.code = std::string(value);
    else if (key == "truncate")
        d.truncate = isTrue(value);
    else if (key == "reset_mid_body")
        d.resetMidBody = isTrue(value);
    else if (key == "hang")
        d.hang = isTrue(value);
    else if (key == "body")
        d.garbage = value == "garbage";
    else if (key == "drip_ms" && isNumber)
        d.dripMs = std::clamp<qint64>(n, 1, 60LL * 1000);
    else if (key == "redirect" && !value.empty())
        d.redirect = std::string(value);
    else if (key == "cut_after" && isNumber)
        d.cutAfter = n;
    else if (key == "error_after" && isNumber)
        d.errorAfter = n;
    else if (key == "stall_after" && isNumber)
        d.stallAfter = n;
    else if (key == "stall_ms" && isNumber)
        d.stallMs = std::min(n, kMaxDelayMs);
}

void FaultScript::normalise(Directive &d)
{
    if (!d.redirect.empty() && (d.status < 300 || d.status > 399))
        d.status = 307;
    // 1xx, 204, 205 and 304 would break HTTP framing (they carry no body): ignored.
    const int s = d.status;
    if (s < 200 || s > 599 || s == 204 || s == 205 || s == 304)
        d.status = 0;
    if (d.status == 0 && !d.code.empty())
        d.status = d.code == "insufficient_quota" ? 429 : 400;
    // A stall without a place stalls before the first chunk; a place without a stall is no stall.
    if (d.stallMs > 0 && d.stallAfter < 0)
        d.stallAfter = 0;
    if (d.stallMs <= 0)
        d.stallAfter = -1;
}

QByteArray FaultScript::scopeKey(std::string_view whole, const Prompt &prompt)
{
    QByteArray key;
    qsizetype total = qsizetype(whole.size()) + 1;
    for (const std::string_view p : prompt.pieces())
        total += qsizetype(p.size()) + 1;
    key.reserve(total);
    key.append(whole.data(), qsizetype(whole.size()));
    for (const std::string_view p : prompt.pieces()) {
        key.append('\x1f');
        key.append(p.data(), qsizetype(p.size()));
    }
    return key;
}

} // namespace Sluice::Sim
