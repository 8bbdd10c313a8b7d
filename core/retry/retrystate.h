#pragma once

#include "net/classifier.h"
#include "retry/retrypolicy.h"

#include <QString>

namespace Sluice {

/// What happens to a request after a failed attempt (after Envoy's RetryState: the verdict is data).
enum class RetryVerdict {
    Yes,                  ///< send again after RetryPlan::delayMs (backoff, or the server's Retry-After)
    WhenEndpointRecovers, ///< no backoff of its own: it waits until an endpoint can take it (a 429 or
                          ///< quota is the endpoint's state, held by the limiter; it may go elsewhere)
    NoBudget,             ///< retryable, but the run allows no more sends (it is stopping)
    NoAttemptsLeft,       ///< retryable, but max_attempts sends were made
    No,                   ///< final by its class (a 400; quota with no other endpoint left)
};

QString toString(RetryVerdict verdict);

struct RetryPlan
{
    RetryVerdict verdict = RetryVerdict::No;
    double delayMs = 0; ///< Yes only
};

/// What the verdict depends on besides the attempt itself.
struct RetryContext
{
    bool otherEndpointUsable = false; ///< an enabled endpoint that is not out of quota exists
    bool mayRetry = true;             ///< false while the run stops
};

/// The one owner of the retry rules: classes (a 400 never, 5xx/timeouts/resets/529 with backoff, 429
/// and quota through the limiter), attempts (max_attempts counts every send), and the run's state. The
/// retry budget (a share of traffic, with a minimum concurrency) is not decided here: it is where a
/// Yes may go, asked when the retry is due (Admission).
class RetryState
{
public:
    RetryState(RetryConfig config, RandomSource *random);

    const RetryConfig &config() const { return m_policy.config(); }

    /// The verdict after the `attempts`-th send failed with `outcome`; `retryAfterMs` < 0 when the
    /// server sent none.
    RetryPlan decide(const Outcome &outcome, int attempts, double retryAfterMs, const RetryContext &context);
    /// Whether a retry after a failure of class `lastClass` draws on the retry budget: failures of the
    /// request's attempt do; a 429 (the limiter's business) and quota (the endpoint's) do not.
    static bool drawsOnRetryBudget(ErrorClass lastClass);
    /// The message of a request that ends with `plan` (not Yes / WhenEndpointRecovers) after `attempts`.
    static QString finalMessage(const QString &message, const RetryPlan &plan, int attempts);

private:
    RetryPolicy m_policy;
};

} // namespace Sluice
