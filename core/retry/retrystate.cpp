#include "retrystate.h"

namespace Sluice {

QString toString(RetryVerdict verdict)
{
    switch (verdict) {
    case RetryVerdict::Yes:
        return QStringLiteral("yes");
    case RetryVerdict::WhenEndpointRecovers:
        return QStringLiteral("when the endpoint recovers");
    case RetryVerdict::NoBudget:
        return QStringLiteral("no budget");
    case RetryVerdict::NoAttemptsLeft:
        return QStringLiteral("no attempts left");
    case RetryVerdict::No:
        return QStringLiteral("no");
    }
    return QString();
}

RetryState::RetryState(RetryConfig config, RandomSource *random)
    : m_policy(config, random)
{
}

RetryPlan RetryState::decide(const Outcome &outcome, int attempts, double retryAfterMs,
                             const RetryContext &context)
{
    if (outcome.isSuccess()) {
        return {RetryVerdict::No, 0};
    }
    // Quota is the endpoint's, not the request's: final only when no other endpoint can serve it.
    const bool quota = outcome.cls == ErrorClass::Quota;
    if (quota ? !context.otherEndpointUsable : !outcome.retryable) {
        return {RetryVerdict::No, 0};
    }
    if (attempts >= m_policy.config().maxAttempts) {
        return {RetryVerdict::NoAttemptsLeft, 0};
    }
    if (!context.mayRetry) {
        return {RetryVerdict::NoBudget, 0};
    }
    if (quota || outcome.cls == ErrorClass::RateLimited) {
        return {RetryVerdict::WhenEndpointRecovers, 0};
    }
    return {RetryVerdict::Yes, m_policy.delayMs(attempts, retryAfterMs)};
}

bool RetryState::drawsOnRetryBudget(ErrorClass lastClass)
{
    return lastClass != ErrorClass::RateLimited && lastClass != ErrorClass::Quota;
}

QString RetryState::finalMessage(const QString &message, const RetryPlan &plan, int attempts)
{
    switch (plan.verdict) {
    case RetryVerdict::NoAttemptsLeft:
        return message + QStringLiteral(" (gave up after %1 attempts)").arg(attempts);
    case RetryVerdict::NoBudget:
        return message + QStringLiteral(" (run stopped before a retry)");
    case RetryVerdict::Yes:
    case RetryVerdict::WhenEndpointRecovers:
    case RetryVerdict::No:
        break;
    }
    return message;
}

} // namespace Sluice
