#include "sharedcostbudget.h"

#include "shared/redisclient.h"

#include <QCryptographicHash>

#include <algorithm>
#include <cmath>

namespace Sluice {

namespace {

// KEYS: 1 committed (micro-USD). ARGV: 1 budget, 2 need, 3 want, 4 refund, 5 debt (all micro-USD).
// Gives back `refund`, charges `debt`, then grants min(want, budget - committed) when at least `need`
// fits (nothing otherwise). Returns {granted, committed}.
const char LeaseLua[] = R"LUA(
local c = tonumber(redis.call('GET', KEYS[1]) or '0')
local budget = tonumber(ARGV[1])
c = math.max(0, c - tonumber(ARGV[4]) + tonumber(ARGV[5]))
local need = tonumber(ARGV[2])
local grant = 0
if need > 0 and c + need <= budget then
  grant = math.min(tonumber(ARGV[3]), budget - c)
end
c = c + grant
redis.call('SET', KEYS[1], string.format('%.0f', c))
return {grant, c}
)LUA";

qint64 units(double usd)
{
    return usd > 0 ? qint64(std::ceil(usd * 1e6 - 1e-6)) : 0;
}

} // namespace

QByteArray SharedCostBudget::leaseScript()
{
    return QByteArray(LeaseLua);
}

SharedCostBudget::SharedCostBudget(const SharedConfig &config, double budgetUsd, const Clock *clock,
                                   QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_budget(qint64(std::floor(budgetUsd * UnitsPerUsd)))
    , m_clock(clock)
    , m_redis(new RedisClient(this))
    , m_flushTimer(this)
{
    m_redis->setCommandTimeoutMs(CommandTimeoutMs);
    connect(m_redis, &RedisClient::connected, this, [this] {
        m_up = true;
        m_leaseInFlight = false;
        ++m_generation;
        notifySoon();
    });
    connect(m_redis, &RedisClient::disconnected, this, [this] {
        m_up = false;
        m_leaseInFlight = false; // its grant, if Redis made one, stays committed: safe, never spent
        ++m_generation;
        notifySoon();
    });
    m_flushTimer.setInterval(250);
    connect(&m_flushTimer, &QTimer::timeout, this, &SharedCostBudget::flush);
}

SharedCostBudget::~SharedCostBudget() = default;

SharedCostBudget *SharedCostBudget::forProject(const ProjectConfig &project, const Clock *clock,
                                               QObject *parent)
{
    if (!project.shared.isEnabled() || !project.limits.hasBudget()) {
        return nullptr;
    }
    return new SharedCostBudget(project.shared, project.limits.maxCostUsd, clock, parent);
}

QByteArray SharedCostBudget::committedKey() const
{
    return m_config.nameSpace.toUtf8() + ":cost:committed";
}

void SharedCostBudget::start()
{
    const auto address = SharedConfig::parseRedisUrl(m_config.redisUrl);
    if (!address) {
        return; // validated with the project; stays down (nothing is spent)
    }
    m_redis->open(address->host, address->port, address->db);
    m_flushTimer.start();
}

void SharedCostBudget::stop()
{
    m_flushTimer.stop();
    if (m_up) {
        m_refund += m_held; // what this process holds and will not spend goes back to the team
        m_held = 0;
        if (m_refund > 0 || m_debt > 0) {
            lease(0, 0);
        }
        m_redis->flush();
    }
    m_redis->close();
}

QString SharedCostBudget::state() const
{
    return m_up ? QStringLiteral("connected") : QStringLiteral("Redis unreachable (paused)");
}

CostFit SharedCostBudget::fit(double usd)
{
    const qint64 need = units(usd);
    if (m_held >= need) {
        return CostFit::Yes;
    }
    if (!m_up || m_leaseInFlight || m_clock->nowMs() < m_retryAtMs) {
        return CostFit::Later;
    }
    if (m_deniedNeed >= 0 && need >= m_deniedNeed && m_clock->nowMs() - m_deniedAtMs < RetryDeniedMs) {
        // The team has no room for it; only a reply of ours in flight could make some.
        return m_reserved > 0 ? CostFit::Later : CostFit::Never;
    }
    m_lastNeed = std::max(m_lastNeed, need);
    const qint64 missing = need - m_held;
    lease(missing, std::max(missing, qint64(std::ceil(LeaseRequests * double(need)))));
    return CostFit::Later;
}

void SharedCostBudget::reserve(double usd)
{
    const qint64 r = units(usd);
    m_held -= r;
    m_reserved += r;
}

void SharedCostBudget::settle(double reservedUsd, double actualUsd)
{
    const qint64 r = units(reservedUsd);
    m_reserved = std::max<qint64>(0, m_reserved - r);
    m_held += r - units(actualUsd);
    if (m_held < 0) {
        m_debt += -m_held; // it cost more than its worst case: the team is charged the difference
        m_held = 0;
    }
    const qint64 keep = qint64(std::ceil(HoldRequests * double(m_lastNeed)));
    if (m_held > keep) {
        m_refund += m_held - keep;
        m_held = keep;
    }
    m_deniedNeed = -1; // something changed: asking again may succeed
}

void SharedCostBudget::lease(qint64 need, qint64 want)
{
    const QByteArray script = leaseScript();
    const QByteArray sha = QCryptographicHash::hash(script, QCryptographicHash::Sha1).toHex();
    const QList<QByteArray> args{QByteArray::number(m_budget), QByteArray::number(need),
                                 QByteArray::number(want), QByteArray::number(m_refund),
                                 QByteArray::number(m_debt)};
    QList<QByteArray> command{QByteArrayLiteral("EVALSHA"), sha, QByteArrayLiteral("1"), committedKey()};
    command << args;
    const qint64 refund = m_refund;
    const qint64 debt = m_debt;
    m_refund = 0;
    m_debt = 0;
    m_leaseInFlight = need > 0;
    const quint64 generation = m_generation;
    auto done = [this, need, refund, debt, generation](const Result<RedisValue> &r) {
        if (generation != m_generation) {
            return; // answered across a reconnection: that state is gone
        }
        if (!r || r->isError() || r->elements.size() < 2) {
            m_refund += refund; // try again with the next call
            m_debt += debt;
            handleLease(need, Error{Error::Code::Io, r ? QString::fromUtf8(r->text) : r.error().message, 0});
            return;
        }
        handleLease(need, std::vector<qint64>{r->elements.at(0).toInteger(), r->elements.at(1).toInteger()});
    };
    const bool sent = m_redis->send(command, [this, command, script, done](const Result<RedisValue> &r) {
        if (r && r->isError() && r->text.startsWith("NOSCRIPT")) {
            QList<QByteArray> eval = command;
            eval[0] = QByteArrayLiteral("EVAL");
            eval[1] = script;
            if (m_redis->send(eval, done)) {
                return;
            }
        }
        done(r);
    });
    if (!sent) {
        m_refund += refund;
        m_debt += debt;
        m_leaseInFlight = false;
    }
}

void SharedCostBudget::handleLease(qint64 need, const Result<std::vector<qint64>> &reply)
{
    m_leaseInFlight = false;
    if (reply) {
        const qint64 granted = (*reply)[0];
        m_committed = (*reply)[1];
        m_held += granted;
        if (need > 0 && granted <= 0) {
            m_deniedNeed = need + m_held; // the whole worst case that did not fit
            m_deniedAtMs = m_clock->nowMs();
        }
    } else {
        m_deniedNeed = -1;
        m_retryAtMs = m_clock->nowMs() + RetryErrorMs;
    }
    notifySoon();
}

void SharedCostBudget::notifySoon()
{
    // From the event loop, never inside hiredis's read handler (the engine may call back into us).
    QMetaObject::invokeMethod(
        this, [this] { notifyChanged(); }, Qt::QueuedConnection);
}

void SharedCostBudget::flush()
{
    if (m_up && !m_leaseInFlight && (m_refund > 0 || m_debt > 0)) {
        lease(0, 0);
    }
}

} // namespace Sluice
