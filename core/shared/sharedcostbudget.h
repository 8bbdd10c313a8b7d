#pragma once

#include "config/projectconfig.h"
#include "cost/teambudget.h"
#include "util/clock.h"

#include <QByteArray>
#include <QObject>
#include <QTimer>

namespace Sluice {

class RedisClient;

/// One cost budget for every Sluice process using the same Redis database and namespace (the project's
/// "shared" block with limits.max_cost_usd): a team budget. Engine-thread only.
///
/// Same lease idea as SharedLimits: a process leases small amounts of the budget in one atomic Lua
/// script and spends them locally, so a request costs no round trip. Redis holds one number,
/// `<ns>:cost:committed`, in micro-dollars: what every process has leased (spent, reserved or held) minus
/// what it gave back. The script grants a lease only while committed + lease <= budget, so the team's
/// spend never passes the budget; what a process holds and does not need goes back (settles that free a
/// lot, and stop()). A request's worst case is reserved from the process's holding; when the holding is
/// short a lease is asked for (Later meanwhile). Never: Redis refused the lease and this process has
/// nothing in flight that could free any (others may still hold some: a later --resume gets it).
/// While Redis is down nothing is leased: requests wait (fail closed; money is not spent on a guess).
class SharedCostBudget final : public QObject, public TeamBudget
{
    Q_OBJECT

public:
    /// A lease asks for this many of the request's worst case (at least), so a few go per round trip.
    static constexpr double LeaseRequests = 4;
    /// Holdings beyond this many worst cases go back to the team when a reply settles.
    static constexpr double HoldRequests = 8;
    static constexpr int CommandTimeoutMs = 1000;
    static constexpr int RetryDeniedMs =
        1000;                                ///< after a refusal, ask again this often (others may give back)
    static constexpr int RetryErrorMs = 200; ///< after a failed call

    SharedCostBudget(const SharedConfig &config, double budgetUsd, const Clock *clock,
                     QObject *parent = nullptr);
    /// The team budget of a project with a "shared" block and limits.max_cost_usd; nullptr otherwise.
    static SharedCostBudget *forProject(const ProjectConfig &project, const Clock *clock, QObject *parent);
    ~SharedCostBudget() override;

    void start() override;
    void stop() override;
    CostFit fit(double usd) override;
    void reserve(double usd) override;
    void settle(double reservedUsd, double actualUsd) override;
    double teamCommittedUsd() const override { return double(m_committed) / UnitsPerUsd; }
    QString state() const override;

    /// The lease script, for tests that check its arithmetic against a real Redis.
    static QByteArray leaseScript();
    QByteArray committedKey() const;

private:
    static constexpr double UnitsPerUsd = 1e6; ///< Redis counts micro-dollars (Lua numbers are doubles)

    void lease(qint64 need, qint64 want);
    void handleLease(qint64 need, const Result<std::vector<qint64>> &reply);
    void flush();
    void notifySoon();

    SharedConfig m_config;
    qint64 m_budget;
    const Clock *m_clock;
    RedisClient *m_redis;
    QTimer m_flushTimer;
    bool m_up = false;
    bool m_leaseInFlight = false;
    quint64 m_generation = 0;
    qint64 m_held = 0;        ///< leased, not reserved (micro-USD)
    qint64 m_reserved = 0;    ///< reserved by requests in flight
    qint64 m_refund = 0;      ///< to give back with the next call
    qint64 m_debt = 0;        ///< spent beyond what was reserved, to charge with the next call
    qint64 m_committed = 0;   ///< the team's committed spend at the last answer
    qint64 m_deniedNeed = -1; ///< the last lease was refused for this much (until something changes)
    double m_deniedAtMs = 0;
    double m_retryAtMs = 0;
    qint64 m_lastNeed = 0;
};

} // namespace Sluice
