#pragma once

#include "config/projectconfig.h"
#include "limit/tokenbucket.h"
#include "util/result.h"

#include <QByteArray>
#include <QByteArrayView>
#include <QHash>
#include <QString>

#include <vector>

namespace Sluice {

/// Who may call the gateway: the project's `gateway.keys`, held as SHA-256 digests only (a key read from
/// an environment variable is hashed at once and the text dropped), each with its own optional rate
/// limit (a token bucket on the injected clock) and its own optional cost budget: a call goes only when
/// its worst case fits on top of what the key's calls spent and what its calls in flight may still cost
/// (their worst cases, reserved until their outcome settles them), so the budget holds however many of
/// its calls are in flight. Disabled (every caller admitted) when the project lists no keys.
/// Engine-thread only.
class CallerKeys
{
public:
    struct Verdict
    {
        enum class Kind {
            Admitted,    ///< a known key within its limit (or no keys configured: `key` is -1)
            Missing,     ///< keys are required and the caller sent none
            Unknown,     ///< the caller's key is not one of the project's
            RateLimited, ///< a known key over its rpm: `retryAfterMs` until it may call again
        };
        Kind kind = Kind::Admitted;
        int key = -1; ///< index into the configured keys (Admitted, RateLimited)
        double retryAfterMs = 0;
    };
    /// Per-key tallies for /metrics.
    struct KeyStats
    {
        QString name;
        qint64 admitted = 0;
        qint64 rateLimited = 0;
        qint64 budgetRefused = 0; ///< calls refused (429) because the key's budget was spent
        double spentUsd = 0;      ///< what the key's calls cost (priced outcomes)
        double budgetUsd = 0;     ///< its max_cost_usd; 0 = no budget of its own
        double reservedUsd = 0;   ///< the worst cases of its calls queued or in flight
    };
    /// Whether a call's worst case fits its key's budget (fit()).
    enum class BudgetFit {
        Fits,      ///< now: reserve() it
        Committed, ///< once the key's calls in flight settle, not now
        Spent,     ///< never: the budget is spent for a call this dear
    };

    explicit CallerKeys(const Clock *clock);

    /// Takes the project's keys: hashes those read from their environment variable. An Error naming
    /// the variable (never a key) when one is unset or empty, or when two entries are the same key.
    Result<void> configure(const GatewayConfig &config);
    bool isEnabled() const { return !m_keys.empty(); }

    /// Checks the key a caller presented (its `Authorization: Bearer` or `x-api-key` value; empty when
    /// none) and, when admitted, takes one request from that key's budget.
    Verdict admit(QByteArrayView presented);
    QString name(int key) const { return m_keys.at(std::size_t(key)).stats.name; }
    /// Whether `key` has a budget and has spent it; counts the refusal when it has.
    bool refuseForBudget(int key);
    /// Whether `worstUsd` (what a call may cost at most) fits `key`'s budget on top of its spend and
    /// reservations. Keys without a budget always fit.
    BudgetFit fit(int key, double worstUsd) const;
    /// Holds `worstUsd` of `key`'s budget for a call until settle().
    void reserve(int key, double worstUsd);
    /// A call of `key` was refused at its budget.
    void countBudgetRefusal(int key) { ++m_keys.at(std::size_t(key)).stats.budgetRefused; }
    double budgetUsd(int key) const { return m_keys.at(std::size_t(key)).stats.budgetUsd; }
    const KeyStats &stats(int key) const { return m_keys.at(std::size_t(key)).stats; }
    /// A call of `key` that reserved `reservedUsd` is over: it cost `usd` (ignored when not positive:
    /// unpriced, or never sent).
    void settle(int key, double reservedUsd, double usd);
    std::vector<KeyStats> stats() const;
    qint64 refusedMissing() const { return m_missing; }
    qint64 refusedUnknown() const { return m_unknown; }

    /// Lower-case hex SHA-256 of `key` (the form the project file holds; `sha256sum` prints the same).
    static QByteArray sha256Hex(QByteArrayView key);

private:
    struct Key
    {
        KeyStats stats;
        TokenBucket bucket; ///< unlimited when the key has no rpm
    };

    const Clock *m_clock;
    std::vector<Key> m_keys;
    QHash<QByteArray, int> m_byDigest; ///< raw SHA-256 digest -> index
    qint64 m_missing = 0;
    qint64 m_unknown = 0;
};

} // namespace Sluice
