#include "sharedlimits.h"

#include "shared/redisclient.h"

#include <QCoreApplication>
#include <QCryptographicHash>
#include <QHostInfo>
#include <QRandomGenerator>

#include <algorithm>
#include <cmath>

namespace Sluice {

namespace {

constexpr double Unlimited = std::numeric_limits<double>::infinity();

// KEYS: 1 requests TAT, 2 tokens TAT, 3 cooldown, 4 active processes (ZSET)
// ARGV: 1 requests/s, 2 tokens/s, 3 lease ms, 4 horizon ms, 5 process id, 6 active TTL ms,
//       7 tokens wanted, 8 tokens refunded (negative: charged), 9 "1" to lease, "0" to only refund
// Returns: slots, slot delay us, slot interval us, tokens, token delay us, cooldown ms, processes,
//          ask-again ms. Times are relative to Redis's clock at the call: callers' clocks never meet.
const char LeaseLua[] = R"LUA(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local rps = tonumber(ARGV[1])
local tps = tonumber(ARGV[2])
local lease = tonumber(ARGV[3])
local horizon = tonumber(ARGV[4])
local ttl = tonumber(ARGV[6])
local keep = 60000
redis.call('ZADD', KEYS[4], now, ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[4], keep)
local n = redis.call('ZCARD', KEYS[4])
local function store(key, tat)
  redis.call('SET', key, string.format('%.3f', tat), 'PX', math.floor(tat - now + keep))
end
local refund = tonumber(ARGV[8])
if tps > 0 and refund ~= 0 then
  local tat = tonumber(redis.call('GET', KEYS[2]) or now)
  store(KEYS[2], math.max(now, tat - refund * 1000 / tps))
end
if ARGV[9] ~= '1' then
  return {0, 0, 0, 0, 0, 0, n, 0}
end
local cd = redis.call('PTTL', KEYS[3])
if cd > 0 then
  return {0, 0, 0, 0, 0, cd, n, cd}
end
local reqTat = now
local tokTat = now
if rps > 0 then reqTat = math.max(now, tonumber(redis.call('GET', KEYS[1]) or now)) end
if tps > 0 then tokTat = math.max(now, tonumber(redis.call('GET', KEYS[2]) or now)) end
local wait = math.max(reqTat - now, tokTat - now) - horizon
if wait > 0 then
  return {0, 0, 0, 0, 0, 0, n, math.ceil(wait)}
end
local k, interval, toks = 0, 0, 0
if rps > 0 then
  k = math.max(1, math.floor(rps * lease / 1000 / n))
  interval = 1000 / rps
  store(KEYS[1], reqTat + k * interval)
end
if tps > 0 then
  toks = math.max(math.ceil(tonumber(ARGV[7])), math.floor(tps * lease / 1000 / n), 1)
  store(KEYS[2], tokTat + toks * 1000 / tps)
end
return {k, math.floor((reqTat - now) * 1000), math.floor(interval * 1000), toks,
        math.floor((tokTat - now) * 1000), 0, n, 0}
)LUA";

// KEYS: 1 cooldown. ARGV: 1 pause ms. Extends the cooldown to at least the pause; returns the old PTTL.
const char CooldownLua[] = R"LUA(
local cur = redis.call('PTTL', KEYS[1])
local ms = math.floor(tonumber(ARGV[1]))
if ms > 0 and cur < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
end
return cur
)LUA";

QByteArray sha1Hex(const QByteArray &script)
{
    return QCryptographicHash::hash(script, QCryptographicHash::Sha1).toHex();
}

QByteArray num(double v)
{
    return QByteArray::number(v, 'f', 6);
}

} // namespace

QByteArray SharedLimits::leaseScript()
{
    return QByteArray(LeaseLua);
}

QByteArray SharedLimits::cooldownScript()
{
    return QByteArray(CooldownLua);
}

SharedLimits::SharedLimits(const SharedConfig &config, const QList<Endpoint> &endpoints, const Clock *clock,
                           QObject *parent)
    : QObject(parent)
    , m_config(config)
    , m_clock(clock)
    , m_redis(new RedisClient(this))
    , m_refundTimer(this)
{
    m_lanes.reserve(std::size_t(endpoints.size()));
    for (const Endpoint &e : endpoints) {
        Lane lane(clock);
        lane.name = e.name.toUtf8();
        lane.rps = std::max(0.0, e.rpm) / 60.0;
        lane.tps = std::max(0.0, e.tpm) / 60.0;
        m_lanes.push_back(std::move(lane));
    }
    for (Lane &lane : m_lanes) {
        configureLocal(lane);
    }
    m_processId = QStringLiteral("%1:%2:%3")
                      .arg(QHostInfo::localHostName())
                      .arg(QCoreApplication::applicationPid())
                      .arg(QRandomGenerator::global()->generate(), 8, 16, QLatin1Char('0'))
                      .toUtf8();
    m_redis->setCommandTimeoutMs(CommandTimeoutMs);
    connect(m_redis, &RedisClient::connected, this, &SharedLimits::handleConnected);
    connect(m_redis, &RedisClient::disconnected, this, &SharedLimits::handleDisconnected);
    m_refundTimer.setInterval(RefundFlushMs);
    connect(&m_refundTimer, &QTimer::timeout, this, &SharedLimits::flushRefunds);
    // Queued: budgets arrive inside hiredis's read handler, which must not re-enter the engine.
    connect(
        this, &SharedLimits::changed, this, [this] { notifyChanged(); }, Qt::QueuedConnection);
    connect(this, &SharedLimits::stateChanged, this,
            [this](const QString &message) { notifyNotice(message); });
}

SharedLimits::~SharedLimits() = default;

SharedLimits *SharedLimits::forProject(const ProjectConfig &project, const Clock *clock, QObject *parent)
{
    if (!project.shared.isEnabled()) {
        return nullptr;
    }
    QList<Endpoint> endpoints;
    for (const EndpointConfig &e : project.endpoints) {
        endpoints.append({e.name, e.rpm, e.tpm});
    }
    return new SharedLimits(project.shared, endpoints, clock, parent);
}

void SharedLimits::start()
{
    const auto address = SharedConfig::parseRedisUrl(m_config.redisUrl);
    if (!address) {
        handleDisconnected(address.error().message);
        return;
    }
    m_downSinceMs = m_clock->nowMs();
    m_redis->open(address->host, address->port, address->db);
    m_refundTimer.start();
}

void SharedLimits::stop()
{
    m_refundTimer.stop();
    if (m_mode == Mode::Up) {
        for (std::size_t i = 0; i < m_lanes.size(); ++i) {
            Lane &lane = m_lanes[i];
            if (lane.rps <= 0 && lane.tps <= 0) {
                continue;
            }
            lane.refund += lane.tokens; // leased, never spent
            lane.tokens = 0;
            if (lane.refund != 0 && lane.tps > 0) {
                sendLease(int(i), false, 0);
            }
            m_redis->send({QByteArrayLiteral("ZREM"), key(lane, "procs"), m_processId},
                          [](const Result<RedisValue> &) {});
        }
        m_redis->flush();
    }
    m_redis->close();
}

QByteArray SharedLimits::key(const Lane &lane, const char *suffix) const
{
    return m_config.nameSpace.toUtf8() + ':' + lane.name + ':' + suffix;
}

bool SharedLimits::isShared(int endpoint) const
{
    const Lane &lane = m_lanes.at(std::size_t(endpoint));
    return lane.rps > 0 || lane.tps > 0;
}

int SharedLimits::shareOf(const Lane &lane) const
{
    return std::max(1, lane.processes > 0 ? lane.processes : m_config.expectedProcesses);
}

void SharedLimits::configureLocal(Lane &lane)
{
    const int n = shareOf(lane);
    const double rps = lane.rps / n;
    const double tps = lane.tps / n;
    lane.localRequests.reconfigure(rps, rps > 0 ? TokenBucket::smoothedCapacity(rps) : 1);
    lane.localTokens.reconfigure(tps, tps > 0 ? TokenBucket::smoothedCapacity(tps) : 1);
}

void SharedLimits::configure(int endpoint, double rpm, double tpm)
{
    Lane &lane = m_lanes.at(std::size_t(endpoint));
    lane.rps = std::max(0.0, rpm) / 60.0;
    lane.tps = std::max(0.0, tpm) / 60.0;
    lane.blocks.clear(); // slots were spaced for the old rate
    configureLocal(lane);
    Q_EMIT changed();
}

void SharedLimits::prune(Lane &lane, double nowMs)
{
    while (!lane.blocks.empty()) {
        Block &b = lane.blocks.front();
        const double x = (nowMs - GraceMs - b.startMs) / b.intervalMs;
        const int firstLive = x <= 0 ? 0 : int(std::min(double(b.count), std::ceil(x)));
        if (firstLive > b.next) {
            m_expired += firstLive - b.next;
            b.next = firstLive;
        }
        if (b.next < b.count) {
            return;
        }
        lane.blocks.pop_front();
    }
}

double SharedLimits::nextSlotMs(const Lane &lane) const
{
    const Block &b = lane.blocks.front();
    // Slots spent late (after a stall, or from two blocks that overlap through the round trip's
    // uncertainty) are spread out, not sent back to back: the sum over processes then stays within
    // a server's small burst allowance.
    return std::max(b.startMs + b.next * b.intervalMs, lane.lastSendMs + MinSpacing * b.intervalMs);
}

int SharedLimits::slotsLeft(const Lane &lane) const
{
    int left = 0;
    for (const Block &b : lane.blocks) {
        left += b.count - b.next;
    }
    return left;
}

double SharedLimits::cooldownMs(int endpoint) const
{
    return std::max(0.0, m_lanes.at(std::size_t(endpoint)).cooldownUntilMs - m_clock->nowMs());
}

bool SharedLimits::mayAcquire(int endpoint, double tokens)
{
    Lane &lane = m_lanes.at(std::size_t(endpoint));
    if (lane.rps <= 0 && lane.tps <= 0) {
        return true;
    }
    const double now = m_clock->nowMs();
    if (isDown()) {
        if (m_config.onRedisDown == SharedConfig::OnRedisDown::FailClosed) {
            return false;
        }
        return lane.localRequests.msUntil(1) <= 0 && lane.localTokens.msUntil(tokens) <= 0;
    }
    if (lane.cooldownUntilMs > now) {
        return false;
    }
    prune(lane, now);
    maybeLease(endpoint, tokens, now);
    const bool slot = lane.rps <= 0 || (!lane.blocks.empty() && nextSlotMs(lane) <= now);
    const bool enoughTokens = lane.tps <= 0 || (lane.tokens >= tokens && lane.tokensReadyAtMs <= now);
    return slot && enoughTokens;
}

double SharedLimits::readyAtMs(int endpoint, double tokens)
{
    Lane &lane = m_lanes.at(std::size_t(endpoint));
    const double now = m_clock->nowMs();
    if (lane.rps <= 0 && lane.tps <= 0) {
        return now;
    }
    if (isDown()) {
        if (m_config.onRedisDown == SharedConfig::OnRedisDown::FailClosed) {
            return Unlimited;
        }
        return now + std::max(lane.localRequests.msUntil(1), lane.localTokens.msUntil(tokens));
    }
    if (lane.cooldownUntilMs > now) {
        return lane.cooldownUntilMs;
    }
    prune(lane, now);
    const double askAt = lane.leaseInFlight ? Unlimited : std::max(now, lane.retryAtMs);
    double at = now;
    if (lane.rps > 0) {
        at = lane.blocks.empty() ? askAt : nextSlotMs(lane);
    }
    if (lane.tps > 0) {
        at = std::max(at, lane.tokens >= tokens ? lane.tokensReadyAtMs : askAt);
    }
    return at;
}

void SharedLimits::maybeLease(int endpoint, double tokens, double nowMs)
{
    Lane &lane = m_lanes.at(std::size_t(endpoint));
    if (lane.leaseInFlight || nowMs < lane.retryAtMs) {
        return;
    }
    // Ask for the next block while half of this one is left, so slots keep coming without a gap.
    const bool needSlots = lane.rps > 0 && slotsLeft(lane) * 2 <= lane.lastLease;
    const bool needTokens = lane.tps > 0 && lane.tokens < tokens;
    if (needSlots || needTokens) {
        sendLease(endpoint, true, std::max(0.0, tokens - lane.tokens));
    }
}

void SharedLimits::sendLease(int endpoint, bool grant, double wantTokens)
{
    Lane &lane = m_lanes.at(std::size_t(endpoint));
    const double refund = lane.refund;
    const double sentMs = m_clock->nowMs();
    const quint64 generation = m_generation;
    lane.leaseInFlight = lane.leaseInFlight || grant;
    lane.refund = 0;
    const QList<QByteArray> keys{key(lane, "req"), key(lane, "tok"), key(lane, "cooldown"),
                                 key(lane, "procs")};
    const QList<QByteArray> args{
        num(lane.rps),   num(lane.tps), num(LeaseMs),
        num(HorizonMs),  m_processId,   num(ActiveTtlMs),
        num(wantTokens), num(refund),   grant ? QByteArrayLiteral("1") : QByteArrayLiteral("0")};
    evalScript(sha1Hex(leaseScript()), leaseScript(), keys, args,
               [this, endpoint, generation, sentMs, grant, refund](const Result<std::vector<qint64>> &r) {
                   Lane &l = m_lanes.at(std::size_t(endpoint));
                   if (generation != m_generation || !m_redis->isConnected()) {
                       // The connection is gone (handleDisconnected resets the lane), or this answers
                       // a call from before a reconnection: that state is gone.
                       return;
                   }
                   if (!r || r->size() < 8) {
                       ++m_errors;
                       l.refund += refund; // try again later
                       if (grant) {
                           l.leaseInFlight = false;
                           l.retryAtMs = m_clock->nowMs() + 200;
                           Q_EMIT changed();
                       }
                       if (!r) {
                           qCWarning(lcShared).noquote() << "lease failed:" << r.error().message;
                       }
                       return;
                   }
                   if (grant) {
                       handleLease(endpoint, generation, sentMs, *r);
                   } else if ((*r)[6] > 0) {
                       l.processes = int((*r)[6]);
                   }
               });
}

void SharedLimits::handleLease(int endpoint, quint64, double sentMs, const std::vector<qint64> &v)
{
    Lane &lane = m_lanes.at(std::size_t(endpoint));
    const double now = m_clock->nowMs();
    // Redis ran the script about half-way through the round trip.
    const double redisNow = (sentMs + now) / 2;
    lane.leaseInFlight = false;
    ++m_leases;
    m_rtt.add(std::max(0.0, now - sentMs));
    const int slots = int(v[0]);
    const double tokens = double(v[3]);
    m_maxProcesses = std::max(m_maxProcesses, int(v[6]));
    if (v[6] > 0 && int(v[6]) != lane.processes) {
        lane.processes = int(v[6]);
        configureLocal(lane);
    }
    if (v[5] > 0) {
        ++m_cooldownsReceived;
        lane.cooldownUntilMs = std::max(lane.cooldownUntilMs, redisNow + double(v[5]));
    }
    if (slots <= 0 && tokens <= 0) {
        ++m_denials;
        lane.retryAtMs = redisNow + std::max<double>(1, double(v[7]));
    }
    if (slots > 0) {
        Block b;
        b.startMs = redisNow + double(v[1]) / 1000.0;
        b.intervalMs = std::max(0.001, double(v[2]) / 1000.0);
        b.count = slots;
        lane.blocks.push_back(b);
        lane.lastLease = slots;
        m_granted += slots;
    }
    if (tokens > 0) {
        const double readyAt = redisNow + double(v[4]) / 1000.0;
        lane.tokensReadyAtMs = lane.tokens > 0 ? std::max(lane.tokensReadyAtMs, readyAt) : readyAt;
        lane.tokens += tokens;
    }
    Q_EMIT changed();
}

void SharedLimits::evalScript(const QByteArray &sha, const QByteArray &script, const QList<QByteArray> &keys,
                              const QList<QByteArray> &args,
                              std::function<void(const Result<std::vector<qint64>> &)> done)
{
    QList<QByteArray> command{QByteArrayLiteral("EVALSHA"), sha, QByteArray::number(keys.size())};
    command << keys << args;
    auto convert = [](const Result<RedisValue> &r) -> Result<std::vector<qint64>> {
        if (!r) {
            return r.error();
        }
        if (r->isError()) {
            return Error{Error::Code::Io, QString::fromUtf8(r->text), 0};
        }
        std::vector<qint64> out;
        if (r->type == RedisValue::Type::Array) {
            for (const RedisValue &e : r->elements) {
                out.push_back(e.toInteger());
            }
        } else {
            out.push_back(r->toInteger());
        }
        return out;
    };
    const bool sent =
        m_redis->send(command, [this, command, script, done, convert](const Result<RedisValue> &r) {
            if (r && r->isError() && r->text.startsWith("NOSCRIPT")) {
                // First use on this server (or it restarted): EVAL sends the body and caches it.
                QList<QByteArray> eval = command;
                eval[0] = QByteArrayLiteral("EVAL");
                eval[1] = script;
                if (!m_redis->send(
                        eval, [done, convert](const Result<RedisValue> &again) { done(convert(again)); })) {
                    done(Error{Error::Code::Io, QStringLiteral("not connected"), 0});
                }
                return;
            }
            done(convert(r));
        });
    if (!sent) {
        // Not connected: answer from the event loop, like any other failure.
        QMetaObject::invokeMethod(
            this,
            [done] {
                done(Error{Error::Code::Io, QStringLiteral("not connected"), 0});
            },
            Qt::QueuedConnection);
    }
}

void SharedLimits::onSend(int endpoint, double tokens)
{
    Lane &lane = m_lanes.at(std::size_t(endpoint));
    if (lane.rps <= 0 && lane.tps <= 0) {
        return;
    }
    if (isDown()) {
        ++m_sentWhileDown;
        lane.localRequests.take(1);
        lane.localTokens.take(tokens);
        return;
    }
    const double now = m_clock->nowMs();
    prune(lane, now);
    if (lane.rps > 0 && !lane.blocks.empty()) {
        lane.lastSendMs = now;
        ++lane.blocks.front().next;
        ++m_used;
        prune(lane, now);
    }
    if (lane.tps > 0) {
        lane.tokens -= tokens;
    }
}

void SharedLimits::onSettle(int endpoint, double reserved, double charged)
{
    Lane &lane = m_lanes.at(std::size_t(endpoint));
    if (lane.tps <= 0) {
        return;
    }
    if (isDown()) {
        lane.localTokens.settle(reserved, charged);
        return;
    }
    lane.refund += reserved - charged;
}

void SharedLimits::flushRefunds()
{
    if (isDown()) {
        return;
    }
    for (std::size_t i = 0; i < m_lanes.size(); ++i) {
        Lane &lane = m_lanes[i];
        // A lease in flight already carried the refunds of its moment; the rest goes with the next.
        if (lane.tps > 0 && std::abs(lane.refund) >= 1 && !lane.leaseInFlight) {
            sendLease(int(i), false, 0);
        }
    }
}

void SharedLimits::onRateLimited(int endpoint, double pauseMs)
{
    Lane &lane = m_lanes.at(std::size_t(endpoint));
    if (lane.rps <= 0 && lane.tps <= 0) {
        return;
    }
    if (isDown() || pauseMs <= 0) {
        return;
    }
    // The 429s of one congestion event arrive together: publish the first, and later ones only when
    // they ask for a longer pause than the one already set.
    const double until = m_clock->nowMs() + pauseMs;
    if (until <= lane.cooldownUntilMs + 1) {
        return;
    }
    lane.cooldownUntilMs = until;
    ++m_cooldownsPublished;
    evalScript(sha1Hex(cooldownScript()), cooldownScript(), {key(lane, "cooldown")},
               {QByteArray::number(qint64(std::ceil(pauseMs)))},
               [this](const Result<std::vector<qint64>> &r) {
                   if (!r) {
                       ++m_errors;
                   }
               });
}

void SharedLimits::handleConnected()
{
    const bool wasDown = m_mode == Mode::Down;
    const double now = m_clock->nowMs();
    if (m_mode != Mode::Up) {
        m_downMs += now - m_downSinceMs;
    }
    m_mode = Mode::Up;
    ++m_generation;
    for (Lane &lane : m_lanes) {
        lane.leaseInFlight = false;
        lane.retryAtMs = 0;
    }
    if (wasDown) {
        Q_EMIT stateChanged(QStringLiteral("shared limits: Redis is back; shared budgets again"));
    }
    Q_EMIT changed();
}

void SharedLimits::handleDisconnected(const QString &why)
{
    if (m_mode == Mode::Down) {
        return;
    }
    const bool wasUp = m_mode == Mode::Up;
    const double now = m_clock->nowMs();
    if (wasUp) {
        m_downSinceMs = now;
    }
    m_mode = Mode::Down;
    ++m_generation;
    for (Lane &lane : m_lanes) {
        lane.leaseInFlight = false;
        if (m_config.onRedisDown == SharedConfig::OnRedisDown::FailClosed) {
            // Pause means pause: slots leased before the loss are not spent either.
            for (const Block &b : lane.blocks) {
                m_expired += b.count - b.next;
            }
            lane.blocks.clear();
            lane.tokens = 0;
        }
        lane.refund = 0; // cannot be returned; a restarted Redis has forgotten the debt anyway
        configureLocal(lane);
    }
    Q_EMIT stateChanged(QStringLiteral("shared limits: Redis unreachable (%1); %2")
                            .arg(why, m_config.onRedisDown == SharedConfig::OnRedisDown::FailClosed
                                          ? QStringLiteral("endpoints with shared limits are paused")
                                          : QStringLiteral("local limits at a 1/N share")));
    Q_EMIT changed();
}

QString SharedLimits::stateName() const
{
    switch (m_mode) {
    case Mode::Up:
        return QStringLiteral("connected");
    case Mode::Connecting:
    case Mode::Down:
        break;
    }
    const QString prefix = m_mode == Mode::Connecting ? QStringLiteral("connecting") : QStringLiteral("down");
    if (m_config.onRedisDown == SharedConfig::OnRedisDown::FailClosed) {
        return prefix + QStringLiteral(" (paused)");
    }
    int n = 1;
    for (const Lane &lane : m_lanes) {
        n = std::max(n, shareOf(lane));
    }
    return prefix + QStringLiteral(" (local 1/%1)").arg(n);
}

SharedLimitsStats SharedLimits::stats() const
{
    SharedLimitsStats s;
    s.enabled = true;
    s.state = stateName();
    s.nameSpace = m_config.nameSpace;
    s.onRedisDown = toString(m_config.onRedisDown);
    for (const Lane &lane : m_lanes) {
        s.processes = std::max(s.processes, lane.processes);
    }
    s.maxProcesses = m_maxProcesses;
    s.leases = m_leases;
    s.leaseDenials = m_denials;
    s.leaseRttP50Ms = m_rtt.quantile(0.5);
    s.leaseRttP99Ms = m_rtt.quantile(0.99);
    s.permitsGranted = m_granted;
    s.permitsUsed = m_used;
    s.permitsExpired = m_expired;
    s.redisErrors = m_errors;
    s.reconnects = m_redis->reconnects();
    s.cooldownsPublished = m_cooldownsPublished;
    s.cooldownsReceived = m_cooldownsReceived;
    s.sentWhileDown = m_sentWhileDown;
    s.downMs = m_downMs + (m_mode != Mode::Up ? m_clock->nowMs() - m_downSinceMs : 0);
    return s;
}

} // namespace Sluice
