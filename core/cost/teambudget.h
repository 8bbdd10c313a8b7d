#pragma once

#include <QString>

#include <functional>
#include <utility>

namespace Sluice {

/// Whether a reservation fits a budget: now, after reservations in flight settle, or never (what is
/// spent only grows).
enum class CostFit { Yes, Later, Never };

/// A run budget shared by several processes (core/shared/SharedCostBudget, over Redis), as CostBudget
/// sees it: this process's reservations come out of the team's budget. Engine-thread only.
class TeamBudget
{
public:
    virtual ~TeamBudget() = default;

    virtual void start() = 0;
    /// Gives back what this process holds and has not spent.
    virtual void stop() = 0;
    /// Whether `usd` more can be reserved now; may ask the backend for more (Later meanwhile).
    virtual CostFit fit(double usd) = 0;
    virtual void reserve(double usd) = 0;
    /// A reservation of `reservedUsd` ended having cost `actualUsd`.
    virtual void settle(double reservedUsd, double actualUsd) = 0;
    /// The team's committed spend (every process's spend and holdings) at the backend's last answer.
    virtual double teamCommittedUsd() const = 0;
    /// "connected", "connecting", "down"... for the operator.
    virtual QString state() const = 0;

    /// Called (from the event loop) when the backend answered: look again.
    void setChangedHandler(std::function<void()> handler) { m_changed = std::move(handler); }

protected:
    void notifyChanged()
    {
        if (m_changed) {
            m_changed();
        }
    }

private:
    std::function<void()> m_changed;
};

} // namespace Sluice
