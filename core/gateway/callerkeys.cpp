#include "callerkeys.h"

#include <QCryptographicHash>

#include <algorithm>

namespace Sluice {

CallerKeys::CallerKeys(const Clock *clock)
    : m_clock(clock)
{
}

QByteArray CallerKeys::sha256Hex(QByteArrayView key)
{
    return QCryptographicHash::hash(key, QCryptographicHash::Sha256).toHex();
}

Result<void> CallerKeys::configure(const GatewayConfig &config)
{
    m_keys.clear();
    m_byDigest.clear();
    for (const GatewayKeyConfig &k : config.keys) {
        QByteArray digest;
        if (!k.keyEnv.isEmpty()) {
            QByteArray key = qgetenv(k.keyEnv.toLocal8Bit().constData()).trimmed();
            if (key.isEmpty()) {
                return Error{
                    Error::Code::InvalidConfig,
                    QStringLiteral("gateway key \"%1\": environment variable %2 (key_env) is not set")
                        .arg(k.name, k.keyEnv),
                    0};
            }
            digest = QCryptographicHash::hash(key, QCryptographicHash::Sha256);
            key.fill('\0'); // the clear key is not kept
        } else {
            digest = QByteArray::fromHex(k.sha256.toLatin1());
        }
        if (m_byDigest.contains(digest)) {
            return Error{Error::Code::InvalidConfig,
                         QStringLiteral("gateway keys \"%1\" and \"%2\" are the same key")
                             .arg(m_keys.at(std::size_t(m_byDigest.value(digest))).stats.name, k.name),
                         0};
        }
        const double rps = k.rpm / 60.0;
        // A burst of up to a second's worth (at least one request): callers are services, not a batch.
        Key key{KeyStats{k.name, 0, 0, 0, 0, k.maxCostUsd, 0}, TokenBucket(m_clock, rps, std::max(1.0, rps))};
        m_byDigest.insert(digest, int(m_keys.size()));
        m_keys.push_back(std::move(key));
    }
    return {};
}

CallerKeys::Verdict CallerKeys::admit(QByteArrayView presented)
{
    Verdict v;
    if (m_keys.empty()) {
        return v;
    }
    if (presented.isEmpty()) {
        ++m_missing;
        v.kind = Verdict::Kind::Missing;
        return v;
    }
    const auto it = m_byDigest.constFind(QCryptographicHash::hash(presented, QCryptographicHash::Sha256));
    if (it == m_byDigest.constEnd()) {
        ++m_unknown;
        v.kind = Verdict::Kind::Unknown;
        return v;
    }
    v.key = *it;
    Key &key = m_keys[std::size_t(v.key)];
    if (!key.bucket.tryTake()) {
        ++key.stats.rateLimited;
        v.kind = Verdict::Kind::RateLimited;
        v.retryAfterMs = key.bucket.msUntil();
        return v;
    }
    ++key.stats.admitted;
    return v;
}

bool CallerKeys::refuseForBudget(int key)
{
    KeyStats &stats = m_keys[std::size_t(key)].stats;
    if (stats.budgetUsd <= 0 || stats.spentUsd < stats.budgetUsd) {
        return false;
    }
    ++stats.budgetRefused;
    return true;
}

CallerKeys::BudgetFit CallerKeys::fit(int key, double worstUsd) const
{
    const KeyStats &stats = m_keys.at(std::size_t(key)).stats;
    worstUsd = std::max(0.0, worstUsd);
    if (stats.budgetUsd <= 0 || stats.spentUsd + stats.reservedUsd + worstUsd <= stats.budgetUsd) {
        return BudgetFit::Fits;
    }
    // What is spent stays spent; what is reserved is at most spent later.
    return stats.spentUsd + worstUsd > stats.budgetUsd ? BudgetFit::Spent : BudgetFit::Committed;
}

void CallerKeys::reserve(int key, double worstUsd)
{
    m_keys.at(std::size_t(key)).stats.reservedUsd += std::max(0.0, worstUsd);
}

void CallerKeys::settle(int key, double reservedUsd, double usd)
{
    if (key < 0 || key >= int(m_keys.size())) {
        return;
    }
    KeyStats &stats = m_keys[std::size_t(key)].stats;
    stats.reservedUsd = std::max(0.0, stats.reservedUsd - std::max(0.0, reservedUsd));
    if (usd > 0) {
        stats.spentUsd += usd;
    }
}

std::vector<CallerKeys::KeyStats> CallerKeys::stats() const
{
    std::vector<KeyStats> out;
    out.reserve(m_keys.size());
    for (const Key &k : m_keys) {
        out.push_back(k.stats);
    }
    return out;
}

} // namespace Sluice
