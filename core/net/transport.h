#pragma once

#include "engine/projectconfig.h"
#include "limit/ratelimitheaders.h"
#include "net/classifier.h"
#include "util/clock.h"

#include <QHash>
#include <QList>
#include <QNetworkProxy>
#include <QObject>
#include <QProcessEnvironment>
#include <QSslConfiguration>
#include <QTimer>

#include <nlohmann/json.hpp>

#include <functional>
#include <queue>
#include <vector>

class QNetworkAccessManager;
class QNetworkReply;

namespace Sluice {

/// What came back for one send.
struct AttemptResult
{
    quint64 ticket = 0; ///< the value send() returned
    int endpoint = -1;
    AttemptReport report;
    nlohmann::json body;     ///< parsed reply body (discarded when not JSON)
    RateLimitInfo rateLimit; ///< rate-limit headers and Retry-After of the reply
    double latencyMs = 0;    ///< send to last byte
    QString requestId;       ///< x-request-id / request-id header
};

/// Sends request bodies to endpoints over QNetworkAccessManager "lanes".
///
/// Qt 6.4 lets one QNAM open at most 6 HTTP/1.1 connections per host and silently queues the rest,
/// where queue time counts against timeouts and nobody can see it. So each endpoint gets up to
/// ceil(max_in_flight / 6) lanes, each its own QNAM, and a lane is never handed more than 6 requests:
/// requests beyond that wait in the engine's queue (counted, visible), never inside Qt.
///
/// Each attempt has a total deadline (the endpoint's timeout_s) besides Qt's idle transfer timeout (set
/// a little later, as a backstop), and a timeout is reported apart from a cancel. When an endpoint that
/// has answered before refuses a connection (a restart), the attempt connects again (after 100 ms,
/// doubling to 1 s) for up to 10 s within its deadline instead of failing at once: the request never
/// left, and keeping its slot stops fresh requests from failing one after another against a closed
/// port. An endpoint that never answered fails at once (a wrong port is a configuration error). Redirects are
/// never followed, so credentials never reach another origin. TLS certificates are verified (against the
/// endpoint's ca_file when it has one). Proxies come from the environment, read explicitly once, when
/// the transport is made (see proxyFor()). Lives on the engine thread; the result handler is called on
/// it, once per send.
class Transport : public QObject
{
    Q_OBJECT

public:
    static constexpr int Http1ConnectionsPerLane = 6;
    using ResultHandler = std::function<void(AttemptResult &&)>;

    explicit Transport(const Clock *clock, QObject *parent = nullptr);
    ~Transport() override;

    void setResultHandler(ResultHandler handler) { m_handler = std::move(handler); }
    /// Sets the endpoints and their keys (index-aligned). Call before the first send.
    void setEndpoints(const QList<EndpointConfig> &endpoints, const QList<QByteArray> &apiKeys);
    /// Changes an endpoint's concurrency bound while running.
    void setMaxInFlight(int endpoint, int maxInFlight);

    /// True when a request to `endpoint` would start on the wire at once.
    bool hasCapacity(int endpoint) const;
    int inFlight(int endpoint) const;
    int totalInFlight() const { return int(m_replies.size() + m_reconnecting.size()); }

    /// Starts an attempt; the handler receives its result later (never from inside this call).
    quint64 send(int endpoint, const QByteArray &body);
    /// Aborts every attempt in flight; each is reported once, as cancelled.
    void abortAll();

    /// The proxy for a request to `url`, read from `environment` the way curl reads it: `https_proxy`
    /// / `HTTPS_PROXY` for https, `http_proxy` (lower case only) for http, else `all_proxy` /
    /// `ALL_PROXY`; `no_proxy` / `NO_PROXY` lists hosts and domains (`example.com` and `.example.com`
    /// match the domain and its subdomains, `*` matches everything, a `:port` suffix is ignored).
    /// Proxy URLs: `http://[user:password@]host[:port]` (port 80 when absent; a missing scheme means
    /// http) or `socks5://` / `socks5h://` (port 1080). Loopback hosts (`localhost`, `*.localhost`,
    /// 127.0.0.0/8, ::1) never go through a proxy. NoProxy when nothing applies. An Error (naming the
    /// variable, never its password) when the setting cannot be used, e.g. an https:// proxy, which Qt
    /// 6.4 cannot speak: the endpoint's every attempt then fails with it, rather than go direct.
    static Result<QNetworkProxy> proxyFor(const QUrl &url, const QProcessEnvironment &environment);
    /// The TLS settings for an endpoint: the system's CA certificates, or only those in `caFile`
    /// when set; no verification at all with `insecure`. An Error when `caFile` holds no certificate.
    static Result<QSslConfiguration> tlsConfiguration(const EndpointConfig &endpoint);

private:
    struct Lane
    {
        QNetworkAccessManager *nam = nullptr;
        int inFlight = 0;
    };
    struct Endpoint
    {
        EndpointConfig config;
        QByteArray apiKey;
        QSslConfiguration tls; ///< for https URLs
        QString setupError;    ///< why nothing can be sent to it (an unusable proxy setting)
        std::vector<Lane> lanes;
        int inFlight = 0;      ///< attempts not yet reported, waiting to reconnect included
        bool answered = false; ///< some attempt got an HTTP status: a refusal now means a restart
    };
    struct Pending
    {
        quint64 ticket = 0;
        int endpoint = 0;
        int lane = 0;
        double startMs = 0;
        double deadlineMs = 0; ///< the attempt's total deadline, relative to startMs
        bool timedOut = false;
        bool cancelled = false;
        QStringList tlsErrors; ///< certificate problems reported during the TLS handshake
        QByteArray body;       ///< kept to connect again after a refused connection
        int reconnects = 0;
        double firstRefusedMs = 0; ///< when the first refusal came (with reconnects > 0)
    };
    struct Reconnect
    {
        double atMs = 0;
        Pending pending;
    };
    struct Deadline
    {
        double atMs;
        QNetworkReply *reply;
        quint64 ticket;
        bool operator>(const Deadline &other) const { return atMs > other.atMs; }
    };

    /// Posts `p` on a free lane of its endpoint; false when none is free.
    bool startReply(Pending p);
    /// Reports an attempt waiting to reconnect, which has no reply: cancelled, or out of time.
    void reportUnsent(const Pending &p, bool cancelled);
    void handleFinished(QNetworkReply *reply);
    void sweepDeadlines();
    int pickLane(Endpoint &endpoint);
    static int laneLimit(const Endpoint &endpoint);

    const Clock *m_clock;
    ResultHandler m_handler;
    std::vector<Endpoint> m_endpoints;
    QHash<QNetworkReply *, Pending> m_replies;
    /// Earliest first: endpoints have different timeouts, so sends do not come due in send order.
    std::priority_queue<Deadline, std::vector<Deadline>, std::greater<>> m_deadlines;
    /// Attempts without a reply: refused by a restarting server and connecting again soon, or
    /// failing at once (setupError), reported from the next sweep.
    std::vector<Reconnect> m_reconnecting;
    QProcessEnvironment m_environment; ///< read once: proxies
    QTimer m_deadlineTimer;
    quint64 m_nextTicket = 1;
};

} // namespace Sluice
