#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QDateTime>
#include <QList>
#include <QPair>

#include <functional>

namespace Sluice {

/// What a reply's rate-limit headers say. Every number is -1 when the header was absent or unreadable.
/// Reset values are converted to milliseconds from `now` (never negative).
struct RateLimitInfo
{
    double requestLimit = -1;     ///< requests allowed per window (OpenAI: per minute)
    double requestRemaining = -1; ///< requests left in the current window
    double requestResetMs = -1;   ///< until the request budget is fully replenished
    double tokenLimit = -1;
    double tokenRemaining = -1;
    double tokenResetMs = -1;
    double retryAfterMs = -1; ///< retry-after-ms, else Retry-After (seconds or HTTP date)

    bool hasRequestInfo() const { return requestLimit >= 0 || requestRemaining >= 0; }
    bool hasTokenInfo() const { return tokenLimit >= 0 || tokenRemaining >= 0; }
};

/// Reads provider rate-limit headers:
/// - OpenAI `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as Go-style durations
///   ("6m0s", "1m26.4s", "310ms", "1h2m3s", "20us", "0s");
/// - Anthropic `anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}`,
///   resets as RFC 3339 times ("2026-11-22T23:57:31Z", with fractions and offsets); `tokens` wins over
///   `input-tokens` when both are present;
/// - `retry-after-ms` (milliseconds, fractional) and `Retry-After` (delay-seconds or an HTTP date).
/// Stateless and never throws; garbage yields -1 for that field only.
class RateLimitHeaders
{
public:
    /// `header(name)` returns the raw value of a header (lower-case name), empty when absent.
    static RateLimitInfo parse(const std::function<QByteArray(const QByteArray &)> &header,
                               const QDateTime &nowUtc);
    /// The same from a reply's header list (names in any case; the first of a repeated name wins).
    /// `nowUtc` is called only when a rate-limit header is present (the current time when empty).
    static RateLimitInfo parse(const QList<QPair<QByteArray, QByteArray>> &headers,
                               const std::function<QDateTime()> &nowUtc = {});

    /// Go duration string to milliseconds; -1 when it is not one. Units: h, m, s, ms, us/µs, ns;
    /// numbers may have fractions; "0" alone is 0.
    static double goDurationMs(QByteArrayView text);
    /// RFC 3339 time to milliseconds after `nowUtc` (0 when in the past); -1 when unreadable.
    static double rfc3339DelayMs(QByteArrayView text, const QDateTime &nowUtc);
};

} // namespace Sluice
