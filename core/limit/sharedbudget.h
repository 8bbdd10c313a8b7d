#pragma once

#include "metrics/metrics.h"

#include <QString>

#include <functional>
#include <utility>

namespace Sluice {

/// Request and token budgets shared with other processes (the Redis backend: core/shared/
/// SharedLimits), as Admission sees them. Engine-thread only.
class SharedBudget
{
public:
    virtual ~SharedBudget() = default;

    /// Starts talking to the backend (asynchronously); stop() gives back what is unused.
    virtual void start() = 0;
    virtual void stop() = 0;

    /// Whether the endpoint has a shared budget at all.
    virtual bool isShared(int endpoint) const = 0;
    /// Whether a request reserving `tokens` may go to `endpoint` now.
    virtual bool mayAcquire(int endpoint, double tokens) = 0;
    /// When it may (clock ms); +infinity when only the backend can tell.
    virtual double readyAtMs(int endpoint, double tokens) = 0;
    virtual void onSend(int endpoint, double tokens) = 0;
    /// The reply settled the reservation: `charged` tokens were really used.
    virtual void onSettle(int endpoint, double reserved, double charged) = 0;
    /// The endpoint answered 429: every process pauses it for `pauseMs`.
    virtual void onRateLimited(int endpoint, double pauseMs) = 0;
    /// Live re-tune of an endpoint's shared rates.
    virtual void configure(int endpoint, double rpm, double tpm) = 0;
    /// Remaining shared cooldown of `endpoint` (ms; 0 = none).
    virtual double cooldownMs(int endpoint) const = 0;
    virtual SharedLimitsStats stats() const = 0;

    /// Called (from the event loop, never inside a call into the budget) when budgets arrived or the
    /// backend's state changed: look again.
    void setChangedHandler(std::function<void()> handler) { m_changed = std::move(handler); }
    /// Called with a message for the operator (the backend went down or came back).
    void setNoticeHandler(std::function<void(const QString &)> handler) { m_notice = std::move(handler); }

protected:
    void notifyChanged()
    {
        if (m_changed) {
            m_changed();
        }
    }
    void notifyNotice(const QString &message)
    {
        if (m_notice) {
            m_notice(message);
        }
    }

private:
    std::function<void()> m_changed;
    std::function<void(const QString &)> m_notice;
};

} // namespace Sluice
