#include "ratelimitheaders.h"

#include "net/provideradapter.h"

#include <QDate>
#include <QTime>
#include <QTimeZone>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>

namespace Sluice {

namespace {

bool isDigit(char c)
{
    return c >= '0' && c <= '9';
}

bool isSpace(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/// The text without surrounding ASCII whitespace (header values may carry it).
QByteArrayView trimmed(QByteArrayView text)
{
    qsizetype begin = 0;
    qsizetype end = text.size();
    while (begin < end && isSpace(text[begin])) {
        ++begin;
    }
    while (end > begin && isSpace(text[end - 1])) {
        --end;
    }
    return text.sliced(begin, end - begin);
}

/// A limit or remaining count: plain decimal digits with an optional fraction ("9999", "12.5").
/// Signs, exponents ("9.5e3", "1e400"), hex, inf/nan and thousands separators are garbage (-1): the
/// providers never send them, and accepting an exponent would let "1e400" slip through as infinity.
double decimalCount(QByteArrayView raw)
{
    const QByteArrayView text = trimmed(raw);
    qsizetype i = 0;
    qsizetype intDigits = 0;
    while (i < text.size() && isDigit(text[i])) {
        ++i;
        ++intDigits;
    }
    if (intDigits == 0) {
        return -1;
    }
    if (i < text.size() && text[i] == '.') {
        ++i;
        qsizetype fracDigits = 0;
        while (i < text.size() && isDigit(text[i])) {
            ++i;
            ++fracDigits;
        }
        if (fracDigits == 0) {
            return -1;
        }
    }
    if (i != text.size()) {
        return -1;
    }
    bool ok = false;
    const double value = QByteArray(text.data(), text.size()).toDouble(&ok);
    // A run of hundreds of digits overflows to infinity (toDouble reports !ok): unreadable, not huge.
    if (!ok || !std::isfinite(value) || value < 0) {
        return -1;
    }
    return value;
}

/// Nanoseconds per Go duration unit; 0 when the unit is unknown. Go accepts both the micro sign
/// (U+00B5) and the Greek mu (U+03BC) for microseconds.
std::uint64_t goUnitNs(QByteArrayView unit)
{
    if (unit == "ns") {
        return 1;
    }
    if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
        return 1000;
    }
    if (unit == "ms") {
        return 1000 * 1000;
    }
    if (unit == "s") {
        return 1000 * 1000 * 1000;
    }
    if (unit == "m") {
        return 60ULL * 1000 * 1000 * 1000;
    }
    if (unit == "h") {
        return 3600ULL * 1000 * 1000 * 1000;
    }
    return 0;
}

/// An instant: whole milliseconds since the epoch plus the nanoseconds below them, kept apart so that
/// the sub-millisecond part survives the subtraction from "now" (a double holding epoch milliseconds
/// has only about 0.2 us of resolution).
struct Instant
{
    qint64 epochMs = 0;
    int subMsNs = 0;
};

/// The instant of an RFC 3339 date-time; nullopt when `text` is not one. Parsed by hand because Qt::ISODate
/// also takes date-only and offset-less text as local time, which would make the result depend on the
/// machine's time zone.
std::optional<Instant> rfc3339Instant(QByteArrayView text)
{
    qsizetype i = 0;
    const auto number = [&](int digits, int &out) {
        if (i + digits > text.size()) {
            return false;
        }
        out = 0;
        for (int k = 0; k < digits; ++k, ++i) {
            if (!isDigit(text[i])) {
                return false;
            }
            out = out * 10 + (text[i] - '0');
        }
        return true;
    };
    const auto literal = [&](char c) {
        if (i < text.size() && text[i] == c) {
            ++i;
            return true;
        }
        return false;
    };
    int year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0;
    if (!number(4, year) || !literal('-') || !number(2, month) || !literal('-') || !number(2, day)) {
        return std::nullopt;
    }
    // RFC 3339 allows "t" and, by its note on ISO 8601, a space as the separator.
    if (!literal('T') && !literal('t') && !literal(' ')) {
        return std::nullopt;
    }
    if (!number(2, hour) || !literal(':') || !number(2, minute) || !literal(':') || !number(2, second)) {
        return std::nullopt;
    }
    // Nanoseconds at most; further digits are below any use and are dropped.
    int fractionNs = 0;
    if (literal('.')) {
        int scale = 100 * 1000 * 1000;
        const qsizetype start = i;
        while (i < text.size() && isDigit(text[i])) {
            fractionNs += (text[i] - '0') * scale;
            scale /= 10;
            ++i;
        }
        if (i == start) {
            return std::nullopt;
        }
    }
    int offsetSeconds = 0;
    if (literal('Z') || literal('z')) {
        offsetSeconds = 0;
    } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
        const int sign = text[i] == '-' ? -1 : 1;
        ++i;
        int offsetHours = 0, offsetMinutes = 0;
        if (!number(2, offsetHours) || !literal(':') || !number(2, offsetMinutes) || offsetHours > 23 ||
            offsetMinutes > 59) {
            return std::nullopt;
        }
        offsetSeconds = sign * (offsetHours * 3600 + offsetMinutes * 60);
    } else {
        return std::nullopt;
    }
    if (i != text.size()) {
        return std::nullopt;
    }

    // A leap second (":60") is the instant one second after ":59".
    const bool leapSecond = second == 60;
    const QDate date(year, month, day);
    const QTime time(hour, minute, leapSecond ? 59 : second);
    if (!date.isValid() || !time.isValid()) {
        return std::nullopt;
    }
    // Built in UTC and shifted by hand: QTimeZone offsets are limited to ±14 h, RFC 3339's to ±23:59.
    const qint64 utcMs = QDateTime(date, time, QTimeZone::utc()).toMSecsSinceEpoch();
    return Instant{utcMs - qint64(offsetSeconds) * 1000 + (leapSecond ? 1000 : 0) + fractionNs / 1000000,
                   fractionNs % 1000000};
}

/// The header names of one rate-limit bucket.
struct Bucket
{
    QByteArray limit;
    QByteArray remaining;
    QByteArray reset;
};

/// One bucket's raw values, read once.
struct BucketValues
{
    QByteArray limit;
    QByteArray remaining;
    QByteArray reset;

    bool present() const
    {
        return !trimmed(limit).isEmpty() || !trimmed(remaining).isEmpty() || !trimmed(reset).isEmpty();
    }
};

BucketValues read(const std::function<QByteArray(const QByteArray &)> &header, const Bucket &bucket)
{
    return {header(bucket.limit), header(bucket.remaining), header(bucket.reset)};
}

Bucket openAi(const char *kind)
{
    const QByteArray k(kind);
    return {QByteArrayLiteral("x-ratelimit-limit-") + k, QByteArrayLiteral("x-ratelimit-remaining-") + k,
            QByteArrayLiteral("x-ratelimit-reset-") + k};
}

Bucket anthropic(const char *kind)
{
    const QByteArray prefix = QByteArrayLiteral("anthropic-ratelimit-") + QByteArray(kind);
    return {prefix + QByteArrayLiteral("-limit"), prefix + QByteArrayLiteral("-remaining"),
            prefix + QByteArrayLiteral("-reset")};
}

/// Every header name parse() reads, built once (not for every reply).
struct Names
{
    Bucket openAiRequests = openAi("requests");
    Bucket openAiTokens = openAi("tokens");
    Bucket anthropicRequests = anthropic("requests");
    Bucket anthropicTokens = anthropic("tokens");
    Bucket anthropicInputTokens = anthropic("input-tokens");
    QByteArray retryAfterMs = QByteArrayLiteral("retry-after-ms");
    QByteArray retryAfter = QByteArrayLiteral("retry-after");
};

const Names &names()
{
    static const Names n;
    return n;
}

/// Whether parse() could read anything from a header of this name: the prefixes of all its names.
bool isRateLimitHeader(const QByteArray &name)
{
    static constexpr std::array<QByteArrayView, 3> prefixes = {QByteArrayView("x-ratelimit-"),
                                                               QByteArrayView("anthropic-ratelimit-"),
                                                               QByteArrayView("retry-after")};
    for (const QByteArrayView prefix : prefixes) {
        if (name.size() >= prefix.size() &&
            QByteArrayView(name).first(prefix.size()).compare(prefix, Qt::CaseInsensitive) == 0) {
            return true;
        }
    }
    return false;
}

} // namespace

namespace {

/// Go's bound: a duration is an int64 of nanoseconds (about 292 years); beyond it is garbage.
constexpr std::uint64_t MaxGoNs = std::uint64_t(std::numeric_limits<std::int64_t>::max());

/// The number before a unit in a Go duration ("1.5" of "1.5s"), read from text[*i] on.
struct GoNumber
{
    std::uint64_t whole = 0;
    std::uint64_t fraction = 0; ///< the fraction's digits, as an integer
    double scale = 1;           ///< 10 ^ (digits kept in `fraction`)
    bool valid = false;         ///< some digits, and no overflow of the whole part
};

GoNumber readGoNumber(QByteArrayView text, qsizetype *i)
{
    GoNumber n;
    const qsizetype wholeStart = *i;
    for (; *i < text.size() && isDigit(text[*i]); ++*i) {
        const std::uint64_t digit = std::uint64_t(text[*i] - '0');
        if (n.whole > (MaxGoNs - digit) / 10) {
            return n; // overflow
        }
        n.whole = n.whole * 10 + digit;
    }
    const bool hasWhole = *i > wholeStart;
    bool hasFraction = false;
    if (*i < text.size() && text[*i] == '.') {
        ++*i;
        const qsizetype fractionStart = *i;
        bool saturated = false; // digits past what fits are dropped, as Go does
        for (; *i < text.size() && isDigit(text[*i]); ++*i) {
            const std::uint64_t digit = std::uint64_t(text[*i] - '0');
            if (!saturated && n.fraction <= (MaxGoNs - digit) / 10) {
                n.fraction = n.fraction * 10 + digit;
                n.scale *= 10;
            } else {
                saturated = true;
            }
        }
        hasFraction = *i > fractionStart;
    }
    n.valid = hasWhole || hasFraction; // no digits: "", ".s", "s", "-1s"
    return n;
}

} // namespace

double RateLimitHeaders::goDurationMs(QByteArrayView raw)
{
    // Follows Go's time.ParseDuration (integer nanoseconds, so "1m26.4s" is exact), except that a
    // sign is refused: a reset is never negative, and "-1s" means the header is broken.
    const QByteArrayView text = trimmed(raw);
    if (text == "0") {
        return 0;
    }
    if (text.isEmpty()) {
        return -1;
    }
    std::uint64_t totalNs = 0;
    qsizetype i = 0;
    while (i < text.size()) {
        const GoNumber n = readGoNumber(text, &i);
        if (!n.valid) {
            return -1;
        }
        // Unit: everything up to the next digit or '.'.
        const qsizetype unitStart = i;
        while (i < text.size() && text[i] != '.' && !isDigit(text[i])) {
            ++i;
        }
        const std::uint64_t unitNs = goUnitNs(text.sliced(unitStart, i - unitStart));
        if (unitNs == 0 || n.whole > MaxGoNs / unitNs) {
            return -1; // missing ("10") or unknown ("1d", "1 s") unit, or too long
        }
        std::uint64_t partNs = n.whole * unitNs;
        if (n.fraction > 0) {
            // Truncated like Go; the product stays below unitNs, so it cannot overflow.
            partNs += std::uint64_t(double(n.fraction) * (double(unitNs) / n.scale));
            if (partNs > MaxGoNs) {
                return -1;
            }
        }
        if (partNs > MaxGoNs - totalNs) {
            return -1;
        }
        totalNs += partNs;
    }
    return double(totalNs) / 1e6;
}

double RateLimitHeaders::rfc3339DelayMs(QByteArrayView text, const QDateTime &nowUtc)
{
    if (!nowUtc.isValid()) {
        return -1;
    }
    const std::optional<Instant> when = rfc3339Instant(trimmed(text));
    if (!when) {
        return -1;
    }
    const double delayMs = double(when->epochMs - nowUtc.toMSecsSinceEpoch()) + when->subMsNs / 1e6;
    return std::max(0.0, delayMs);
}

RateLimitInfo RateLimitHeaders::parse(const std::function<QByteArray(const QByteArray &)> &header,
                                      const QDateTime &nowUtc)
{
    RateLimitInfo info;
    if (!header) {
        return info; // calling an empty std::function would throw
    }

    // One bucket per dimension, chosen by which headers are present, never mixed field by field: a
    // limit from one bucket beside the remaining count of another would mislead the limiter. A bucket
    // that is present but unreadable stays -1 rather than falling back. When a gateway passes both
    // providers' headers through, OpenAI's win: a fixed order, so the outcome never depends on luck.
    // For Anthropic tokens, the combined `tokens` bucket wins over `input-tokens`; `output-tokens`
    // has no field and is ignored.
    const Names &n = names();
    const BucketValues openAiRequests = read(header, n.openAiRequests);
    if (openAiRequests.present()) {
        info.requestLimit = decimalCount(openAiRequests.limit);
        info.requestRemaining = decimalCount(openAiRequests.remaining);
        info.requestResetMs = goDurationMs(openAiRequests.reset);
    } else {
        const BucketValues requests = read(header, n.anthropicRequests);
        info.requestLimit = decimalCount(requests.limit);
        info.requestRemaining = decimalCount(requests.remaining);
        info.requestResetMs = rfc3339DelayMs(requests.reset, nowUtc);
    }

    const BucketValues openAiTokens = read(header, n.openAiTokens);
    if (openAiTokens.present()) {
        info.tokenLimit = decimalCount(openAiTokens.limit);
        info.tokenRemaining = decimalCount(openAiTokens.remaining);
        info.tokenResetMs = goDurationMs(openAiTokens.reset);
    } else {
        BucketValues tokens = read(header, n.anthropicTokens);
        if (!tokens.present()) {
            tokens = read(header, n.anthropicInputTokens);
        }
        info.tokenLimit = decimalCount(tokens.limit);
        info.tokenRemaining = decimalCount(tokens.remaining);
        info.tokenResetMs = rfc3339DelayMs(tokens.reset, nowUtc);
    }

    info.retryAfterMs = ProviderAdapter::retryAfterMs(header(n.retryAfterMs), header(n.retryAfter), nowUtc);
    return info;
}

RateLimitInfo RateLimitHeaders::parse(const QList<QPair<QByteArray, QByteArray>> &headers,
                                      const std::function<QDateTime()> &nowUtc)
{
    // Most replies of most servers carry none of these headers: one pass over the names, and nothing
    // else (no lookups, no clock) for those.
    QList<QPair<QByteArray, QByteArray>> relevant;
    for (const auto &header : headers) {
        if (isRateLimitHeader(header.first)) {
            relevant.append({header.first.toLower(), header.second});
        }
    }
    if (relevant.isEmpty()) {
        return RateLimitInfo{};
    }
    return parse(
        [&relevant](const QByteArray &name) {
            for (const auto &header : std::as_const(relevant)) {
                if (header.first == name) {
                    return header.second;
                }
            }
            return QByteArray();
        },
        nowUtc ? nowUtc() : QDateTime::currentDateTimeUtc());
}

} // namespace Sluice
