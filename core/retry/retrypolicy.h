#pragma once

#include "net/classifier.h"
#include "util/randomsource.h"

namespace Sluice {

/// Retry settings of a run (project "limits" and CLI flags).
struct RetryConfig
{
    int maxAttempts = 5;             ///< sends per request, first one included
    double baseDelayMs = 500;        ///< backoff before the 2nd attempt is drawn from [0, base]
    double maxDelayMs = 30000;       ///< cap of the exponential backoff
    double maxRetryAfterMs = 600000; ///< a server's Retry-After is honoured up to this
};

/// Retry decisions as data (after Envoy's retry state): why a request is or is not sent again.
enum class RetryDecision {
    Yes,                ///< send again after `delayMs`
    No,                 ///< the failure is final by its class (e.g. a 400)
    NoAttemptsExceeded, ///< retryable, but `maxAttempts` sends were made
};

struct RetryPlan
{
    RetryDecision decision = RetryDecision::No;
    double delayMs = 0;
};

/// Exponential backoff with full jitter: before attempt n+1 wait uniform[0, min(cap, base·2^(n-1))].
/// A server's Retry-After wins when it asks for longer (plus up to 10 % jitter, so that requests told
/// the same time do not return as one burst). Randomness is injected; must outlive the policy.
class RetryPolicy
{
public:
    RetryPolicy(RetryConfig config, RandomSource *random);

    const RetryConfig &config() const { return m_config; }
    void setConfig(const RetryConfig &config) { m_config = config; }

    /// `attempts` = sends made so far (≥ 1); `retryAfterMs` < 0 when the server sent none.
    RetryPlan decide(const Outcome &outcome, int attempts, double retryAfterMs = -1);
    /// The jittered backoff alone, for the wait after the `attempts`-th failed send.
    double backoffMs(int attempts);

private:
    RetryConfig m_config;
    RandomSource *m_random;
};

} // namespace Sluice
