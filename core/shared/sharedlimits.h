#pragma once

#include "config/projectconfig.h"
#include "limit/sharedbudget.h"
#include "limit/tokenbucket.h"
#include "metrics/latencyhistogram.h"
#include "metrics/metrics.h"
#include "util/clock.h"

#include <QByteArray>
#include <QObject>
#include <QTimer>

#include <deque>
#include <limits>
#include <vector>

namespace Sluice {

class RedisClient;

/// Request and token budgets shared by every Sluice process using the same Redis database and
/// namespace, per endpoint name. Engine-thread only; time from the injected clock (lease timing maps
/// Redis's clock to ours through the round trip, so machines' clocks never need to agree).
///
/// Design (why not a Redis call per request): the engine's limiter check is synchronous and runs for
/// every candidate send, so a process *leases* small blocks of permits and spends them locally.
/// - Requests use GCRA (virtual scheduling) in one atomic Lua script: the key `<ns>:<endpoint>:req`
///   holds the theoretical arrival time (TAT) in Redis's own clock (`redis.call('TIME')`). A lease of
///   k requests returns "slots" start, start+1/r, ..., start+(k-1)/r with start = max(now, TAT) and
///   moves TAT to start + k/r. Across all processes slots are therefore spaced 1/r apart: the sum
///   of sends never exceeds r plus what a late slot adds, and it arrives smoothly, not in bursts that
///   a server's small bucket would answer with 429s (a plain shared token bucket handing out k
///   permits at once lets N processes each burst k). A slot may be spent up to `GraceMs` after its
///   moment, else it expires, and one process's sends stay `MinSpacing` slot intervals apart (so a
///   busy or stalled process cannot pile its slots up into a burst).
/// - k = max(1, r × LeaseMs / n) where n counts the processes that leased in the last `ActiveTtlMs`
///   (a heartbeat ZSET `<ns>:<endpoint>:procs`): each process holds about LeaseMs / n of the future,
///   all together about LeaseMs. A lease is refused while TAT is more than `HorizonMs` ahead; the
///   reply says when to ask again. The next lease is requested when half the current one is spent.
/// - Tokens (tpm) the same way on `<ns>:<endpoint>:tok`, granted together with the requests;
///   over-reservations are refunded on settle (TAT moves back, never before now) and extra usage is
///   charged, batched into the next lease or a refund call every `RefundFlushMs`.
/// - 429s: a process that gets one sets `<ns>:<endpoint>:cooldown` with PX = the pause; every lease
///   script answers with the remaining cooldown and grants nothing meanwhile, so all processes back off.
/// - Redis down (connection lost, or no answer in `CommandTimeoutMs`): fail_closed drops the leased
///   slots and sends nothing to the endpoint until Redis is back (requests wait, nothing fails);
///   fail_open limits the endpoint locally to 1/N of its rates (N = processes last seen). The client
///   reconnects with backoff; a restarted Redis starts from empty keys (TAT = now).
/// Endpoints with neither rpm nor tpm have no shared budget and are never held back here; global
/// limits (limits.rps / tpm) stay per process.
class SharedLimits final : public QObject, public SharedBudget
{
    Q_OBJECT

public:
    static constexpr double LeaseMs = 100;
    static constexpr double HorizonMs = 250;
    static constexpr double GraceMs = 40;
    /// Least gap between two sends of one process, in slot intervals (caps a catch-up at 1.33 × rate).
    static constexpr double MinSpacing = 0.75;
    static constexpr double ActiveTtlMs = 2000;
    static constexpr int CommandTimeoutMs = 1000;
    static constexpr int RefundFlushMs = 250;

    struct Endpoint
    {
        QString name;
        double rpm = 0; ///< 0 = no shared request budget
        double tpm = 0; ///< 0 = no shared token budget
    };

    SharedLimits(const SharedConfig &config, const QList<Endpoint> &endpoints, const Clock *clock,
                 QObject *parent = nullptr);
    /// The shared limits of a project with a "shared" block (a child of `parent`); nullptr without.
    static SharedLimits *forProject(const ProjectConfig &project, const Clock *clock, QObject *parent);
    ~SharedLimits() override;

    /// Connects to Redis (asynchronously); until the first connection the Redis-down rule applies.
    void start() override;
    /// Returns unused tokens, leaves the process count and writes it out now (before an exit).
    void stop() override;

    /// Whether the endpoint has a shared budget at all.
    bool isShared(int endpoint) const override;
    /// Whether a request reserving `tokens` may go to `endpoint` now. May start a lease.
    bool mayAcquire(int endpoint, double tokens) override;
    /// When it may (clock ms); +infinity when only a lease reply or a reconnection can tell.
    double readyAtMs(int endpoint, double tokens) override;
    /// A request reserving `tokens` was sent to `endpoint`.
    void onSend(int endpoint, double tokens) override;
    /// Its reply settled the reservation: `charged` tokens were really used.
    void onSettle(int endpoint, double reserved, double charged) override;
    /// The endpoint answered 429: every process pauses it for `pauseMs`.
    void onRateLimited(int endpoint, double pauseMs) override;
    /// Live re-tune of an endpoint's rates.
    void configure(int endpoint, double rpm, double tpm) override;
    /// Remaining shared cooldown of `endpoint` (ms; 0 = none).
    double cooldownMs(int endpoint) const override;

    SharedLimitsStats stats() const override;
    /// The scripts, for tests that check their arithmetic against a real Redis.
    static QByteArray leaseScript();
    static QByteArray cooldownScript();

Q_SIGNALS:
    /// Budgets arrived or the Redis state changed: the engine should look again.
    void changed();
    /// For the operator: Redis became unreachable or came back.
    void stateChanged(const QString &message);

private:
    struct Block
    {
        double startMs = 0; ///< our clock
        double intervalMs = 0;
        int count = 0;
        int next = 0; ///< first slot not spent or expired
    };
    struct Lane
    {
        QByteArray name;
        double rps = 0, tps = 0;
        std::deque<Block> blocks;
        int lastLease = 1;
        double tokens = 0; ///< leased tokens not spent yet
        double tokensReadyAtMs = 0;
        double refund = 0; ///< tokens to give back (negative: to charge) with the next call
        bool leaseInFlight = false;
        double retryAtMs = 0; ///< do not ask again before
        double cooldownUntilMs = 0;
        double lastSendMs = -std::numeric_limits<double>::infinity();
        int processes = 0;
        TokenBucket localRequests; ///< fail_open
        TokenBucket localTokens;
        Lane(const Clock *clock)
            : localRequests(clock, 0, 1)
            , localTokens(clock, 0, 1)
        {
        }
    };
    enum class Mode { Connecting, Up, Down };

    void prune(Lane &lane, double nowMs);
    int slotsLeft(const Lane &lane) const;
    /// When the front block's next slot may be spent (blocks must not be empty).
    double nextSlotMs(const Lane &lane) const;
    void maybeLease(int endpoint, double tokens, double nowMs);
    void sendLease(int endpoint, bool grant, double wantTokens);
    void handleLease(int endpoint, quint64 generation, double sentMs, const std::vector<qint64> &v);
    void evalScript(const QByteArray &sha, const QByteArray &script, const QList<QByteArray> &keys,
                    const QList<QByteArray> &args,
                    std::function<void(const Result<std::vector<qint64>> &)> done);
    void handleConnected();
    void handleDisconnected(const QString &why);
    void flushRefunds();
    void configureLocal(Lane &lane);
    int shareOf(const Lane &lane) const;
    bool isDown() const { return m_mode != Mode::Up; }
    QByteArray key(const Lane &lane, const char *suffix) const;
    QString stateName() const;

    SharedConfig m_config;
    const Clock *m_clock;
    RedisClient *m_redis;
    std::vector<Lane> m_lanes;
    QByteArray m_processId;
    Mode m_mode = Mode::Connecting;
    quint64 m_generation = 0;
    double m_downSinceMs = 0;
    double m_downMs = 0;
    QTimer m_refundTimer;
    LatencyHistogram m_rtt;
    int m_maxProcesses = 0;
    qint64 m_leases = 0, m_denials = 0, m_granted = 0, m_used = 0, m_expired = 0, m_errors = 0,
           m_cooldownsPublished = 0, m_cooldownsReceived = 0, m_sentWhileDown = 0;
};

} // namespace Sluice
