// qnamref: what QNetworkAccessManager alone does on this machine, as a reference for scale.sh.
//
// No Sluice code: LANES QNAMs spread over THREADS threads, each QNAM kept at PER_LANE requests in
// flight (the same shape as the transport's lanes: 6 per QNAM over HTTP/1.1, 100 streams over h2c),
// POSTing one fixed body to URL until REQUESTS replies have come back. Prints
//   qnamref <requests> <seconds> <req/s>
// The ratio of a Sluice run to this figure is what the engine, the limiter, the reader and the
// writers cost on top of Qt's HTTP stack.
//
// --stream (stream-bench.sh): the replies are server-sent event streams, read as they arrive
// (readyRead); each event (a block ending in a blank line) is counted, and the time from the send to
// the first content event (an OpenAI delta with non-empty "content", an Anthropic "text_delta") is
// the stream's time to first token. Prints instead
//   qnamref-stream streams=N failed=N seconds=S streams_per_s=R events=N events_per_s=R chunks=N
//     chunks_per_s=R ttft_p50_ms=T ttft_p99_ms=T warm_ttft_p50_ms=T warm_ttft_p99_ms=T
//     first_byte_p50_ms=T cpu_s=C
// (one line; chunks: content events; warm: the streams sent after the first lanes x per-lane, on
// connections already open; cpu_s: user + system time of the whole process, getrusage; -1: none).
//
// Usage: qnamref URL REQUESTS [--h2c | --h2] [--ca FILE] [--lanes N] [--threads N] [--per-lane N]
//                [--pools N] [--unbuffered] [--body FILE] [--stream]
//   --h2          an https URL: HTTP/2 chosen by ALPN (as the transport's protocol "h2")
//   --ca FILE     trust the PEM certificates in FILE for an https URL (as an endpoint's ca_file)
//   --unbuffered  leave Qt's default socket for direct cleartext requests (no proxy at all), which
//                 reads reply headers one read() call per byte; the default names DefaultProxy,
//                 as the transport does (see EnvironmentProxyFactory in core/net/transportworker.cpp)

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QFile>
#include <QNetworkAccessManager>
#include <QNetworkProxy>
#include <QNetworkProxyFactory>
#include <QNetworkReply>
#include <QNetworkRequest>
#include <QSslCertificate>
#include <QSslConfiguration>
#include <QThread>
#include <QTimer>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

namespace {

struct Options
{
    QUrl url;
    qint64 requests = 0;
    bool h2c = false;
    bool h2 = false; ///< TLS with ALPN
    QString caFile;
    bool unbuffered = false;
    int lanes = 0;
    int threads = 2;
    int perLane = 0;
    int pools = 1;       ///< connection pools per QNAM (distinct peer verify names)
    bool stream = false; ///< read SSE replies incrementally, count events, time the first token
    QByteArray body =
        R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say hi."}],"max_tokens":32})";
};

/// Answers every query with one proxy type. Only a factory's DefaultProxy reaches Qt's HTTP layer as
/// such; QNetworkAccessManager::setProxy(DefaultProxy) is resolved to NoProxy before it.
class FixedProxyFactory final : public QNetworkProxyFactory
{
public:
    explicit FixedProxyFactory(QNetworkProxy::ProxyType type)
        : m_type(type)
    {
    }
    QList<QNetworkProxy> queryProxy(const QNetworkProxyQuery &) override { return {QNetworkProxy(m_type)}; }

private:
    QNetworkProxy::ProxyType m_type;
};

std::atomic<qint64> g_started{0};
std::atomic<qint64> g_finished{0};
std::atomic<qint64> g_failed{0};
std::atomic<qint64> g_events{0};
std::atomic<qint64> g_chunks{0};

/// Per-stream times of every lane, gathered when a lane is deleted (its own thread, so a lock).
std::mutex g_timesMutex;
std::vector<double> g_ttftMs;
std::vector<double> g_firstByteMs;
std::vector<double> g_warmTtftMs;

using SteadyClock = std::chrono::steady_clock;

double msSince(SteadyClock::time_point t)
{
    return std::chrono::duration<double, std::milli>(SteadyClock::now() - t).count();
}

/// True when one SSE event carries output text: an OpenAI delta whose "content" is a non-empty
/// string (the opening role chunk has "content":""), or an Anthropic text_delta.
bool isContentEvent(const char *begin, const char *end)
{
    const QByteArrayView event(begin, end - begin);
    if (event.contains("\"text_delta\"")) {
        return true;
    }
    static constexpr QByteArrayView key("\"content\":\"");
    const qsizetype at = event.indexOf(key);
    return at >= 0 && at + key.size() < event.size() && event.at(at + key.size()) != '"';
}

/// One streamed reply being read: what is left of an unfinished event and the stream's times.
struct StreamState
{
    SteadyClock::time_point sent = SteadyClock::now();
    bool warm = false;  ///< sent after the first wave (lanes x per-lane), on connections already open
    QByteArray pending; ///< bytes after the last complete event
    bool sawByte = false;
    bool sawContent = false;
    double firstByteMs = -1;
    double ttftMs = -1;
};

/// One QNAM that keeps `perLane` requests in flight until the shared budget is spent.
class Lane : public QObject
{
public:
    Lane(const Options &options)
        : m_options(options)
    {
    }

    void start()
    {
        m_nam = new QNetworkAccessManager(this);
        m_nam->setAutoDeleteReplies(true);
        m_nam->setProxyFactory(
            new FixedProxyFactory(!m_options.unbuffered && m_options.url.scheme() == QLatin1String("http")
                                      ? QNetworkProxy::DefaultProxy
                                      : QNetworkProxy::NoProxy)); // owned by the QNAM
        m_request = QNetworkRequest(m_options.url);
        m_request.setHeader(QNetworkRequest::ContentTypeHeader, QByteArrayLiteral("application/json"));
        if (m_options.h2c) {
            m_request.setAttribute(QNetworkRequest::Http2DirectAttribute, true);
        } else if (m_options.h2) {
            m_request.setAttribute(QNetworkRequest::Http2AllowedAttribute, true);
        } else {
            m_request.setAttribute(QNetworkRequest::Http2AllowedAttribute, false);
        }
        if (!m_options.caFile.isEmpty()) {
            QSslConfiguration tls = QSslConfiguration::defaultConfiguration();
            tls.setCaCertificates(QSslCertificate::fromPath(m_options.caFile));
            m_request.setSslConfiguration(tls);
        }
        connect(m_nam, &QNetworkAccessManager::finished, this, [this](QNetworkReply *reply) {
            if (m_options.stream) {
                finishStream(reply);
            } else {
                reply->readAll();
            }
            if (reply->error() != QNetworkReply::NoError) {
                g_failed.fetch_add(1);
            }
            g_finished.fetch_add(1);
            sendOne();
        });
        for (int i = 0; i < m_options.perLane; ++i) {
            sendOne();
        }
    }

    ~Lane() override
    {
        const std::lock_guard lock(g_timesMutex);
        g_ttftMs.insert(g_ttftMs.end(), m_ttftMs.begin(), m_ttftMs.end());
        g_firstByteMs.insert(g_firstByteMs.end(), m_firstByteMs.begin(), m_firstByteMs.end());
        g_warmTtftMs.insert(g_warmTtftMs.end(), m_warmTtftMs.begin(), m_warmTtftMs.end());
    }

private:
    void sendOne()
    {
        const qint64 index = g_started.fetch_add(1);
        if (index >= m_options.requests) {
            return;
        }
        QNetworkReply *reply = nullptr;
        if (m_options.pools > 1) {
            // Qt keys its connection cache on the peer verify name too: one pool of connections each.
            QNetworkRequest request = m_request;
            request.setPeerVerifyName(QStringLiteral("pool%1").arg(m_nextPool++ % m_options.pools));
            reply = m_nam->post(request, m_options.body);
        } else {
            reply = m_nam->post(m_request, m_options.body);
        }
        if (m_options.stream) {
            auto state = std::make_shared<StreamState>();
            state->warm = index >= qint64(m_options.lanes) * m_options.perLane;
            m_streams.emplace(reply, std::move(state));
            connect(reply, &QNetworkReply::readyRead, this, [this, reply] { readStream(reply); });
        }
    }

    /// Reads what has arrived of one stream and counts the events completed by it.
    void readStream(QNetworkReply *reply)
    {
        const auto it = m_streams.find(reply);
        if (it == m_streams.end()) {
            return;
        }
        StreamState &state = *it->second;
        const QByteArray data = reply->readAll();
        if (data.isEmpty()) {
            return;
        }
        if (!state.sawByte) {
            state.sawByte = true;
            state.firstByteMs = msSince(state.sent);
        }
        state.pending.append(data);
        const char *begin = state.pending.constData();
        const char *end = begin + state.pending.size();
        const char *eventStart = begin;
        qint64 events = 0;
        qint64 chunks = 0;
        for (const char *p = begin; p + 1 < end; ++p) {
            if (p[0] == '\n' && p[1] == '\n') {
                ++events;
                if (isContentEvent(eventStart, p)) {
                    ++chunks;
                    if (!state.sawContent) {
                        state.sawContent = true;
                        state.ttftMs = msSince(state.sent);
                    }
                }
                eventStart = p + 2;
                ++p;
            }
        }
        state.pending.remove(0, eventStart - begin);
        g_events.fetch_add(events, std::memory_order_relaxed);
        g_chunks.fetch_add(chunks, std::memory_order_relaxed);
    }

    void finishStream(QNetworkReply *reply)
    {
        readStream(reply);
        const auto it = m_streams.find(reply);
        if (it == m_streams.end()) {
            return;
        }
        if (reply->error() == QNetworkReply::NoError) {
            if (it->second->sawContent) {
                m_ttftMs.push_back(it->second->ttftMs);
                if (it->second->warm) {
                    m_warmTtftMs.push_back(it->second->ttftMs);
                }
            }
            if (it->second->sawByte) {
                m_firstByteMs.push_back(it->second->firstByteMs);
            }
        }
        m_streams.erase(it);
    }

    const Options &m_options;
    QNetworkAccessManager *m_nam = nullptr;
    QNetworkRequest m_request;
    int m_nextPool = 0;
    std::unordered_map<QNetworkReply *, std::shared_ptr<StreamState>> m_streams;
    std::vector<double> m_ttftMs;
    std::vector<double> m_firstByteMs;
    std::vector<double> m_warmTtftMs;
};

/// The P-th percentile (0-100) of `values` (nearest rank), or -1 when there are none.
double percentile(std::vector<double> values, double p)
{
    if (values.empty()) {
        return -1;
    }
    std::sort(values.begin(), values.end());
    const auto rank = std::size_t(std::max(1.0, std::ceil(p / 100.0 * double(values.size()))));
    return values[std::min(rank, values.size()) - 1];
}

double cpuSeconds()
{
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    const auto seconds = [](const timeval &t) {
        return double(t.tv_sec) + double(t.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

int usage()
{
    std::fprintf(stderr, "usage: qnamref URL REQUESTS [--h2c | --h2] [--ca FILE] [--lanes N] [--threads N] "
                         "[--per-lane N] [--pools N] [--unbuffered] [--body FILE] [--stream]\n");
    return 2;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    const QStringList args = app.arguments();
    if (args.size() < 3) {
        return usage();
    }
    Options options;
    options.url = QUrl(args.at(1));
    options.requests = args.at(2).toLongLong();
    for (int i = 3; i < args.size(); ++i) {
        const QString &a = args.at(i);
        const bool hasValue = i + 1 < args.size();
        if (a == QLatin1String("--h2c")) {
            options.h2c = true;
        } else if (a == QLatin1String("--h2")) {
            options.h2 = true;
        } else if (a == QLatin1String("--ca") && hasValue) {
            options.caFile = args.at(++i);
        } else if (a == QLatin1String("--stream")) {
            options.stream = true;
        } else if (a == QLatin1String("--unbuffered")) {
            options.unbuffered = true;
        } else if (a == QLatin1String("--lanes") && hasValue) {
            options.lanes = args.at(++i).toInt();
        } else if (a == QLatin1String("--threads") && hasValue) {
            options.threads = args.at(++i).toInt();
        } else if (a == QLatin1String("--pools") && hasValue) {
            options.pools = args.at(++i).toInt();
        } else if (a == QLatin1String("--per-lane") && hasValue) {
            options.perLane = args.at(++i).toInt();
        } else if (a == QLatin1String("--body") && hasValue) {
            QFile file(args.at(++i));
            if (!file.open(QIODevice::ReadOnly)) {
                std::fprintf(stderr, "qnamref: cannot read %s\n", qPrintable(file.fileName()));
                return 2;
            }
            options.body = file.readAll().trimmed();
        } else {
            return usage();
        }
    }
    if (!options.url.isValid() || options.requests <= 0 || options.threads < 1 ||
        (options.h2c && options.h2)) {
        return usage();
    }
    if (options.perLane <= 0) {
        options.perLane = options.h2c || options.h2 ? 100 : 6;
    }
    if (options.lanes <= 0) {
        options.lanes = options.threads;
    }

    const double cpuAtStart = cpuSeconds();
    std::vector<std::unique_ptr<QThread>> threads;
    std::vector<Lane *> lanes;
    for (int t = 0; t < options.threads; ++t) {
        threads.push_back(std::make_unique<QThread>());
        threads.back()->start();
    }
    QElapsedTimer clock;
    clock.start();
    for (int i = 0; i < options.lanes; ++i) {
        auto *lane = new Lane(options);
        lane->moveToThread(threads[std::size_t(i % options.threads)].get());
        lanes.push_back(lane);
        QMetaObject::invokeMethod(
            lane, [lane] { lane->start(); }, Qt::QueuedConnection);
    }
    QTimer poll;
    poll.setInterval(10);
    QObject::connect(&poll, &QTimer::timeout, &app, [&] {
        if (g_finished.load() >= options.requests) {
            app.quit();
        }
    });
    poll.start();
    app.exec();
    const double seconds = double(clock.nsecsElapsed()) / 1e9;
    for (std::size_t i = 0; i < lanes.size(); ++i) {
        Lane *lane = lanes[i];
        QMetaObject::invokeMethod(
            lane, [lane] { delete lane; }, Qt::BlockingQueuedConnection);
    }
    for (auto &thread : threads) {
        thread->quit();
        thread->wait();
    }
    if (options.stream) {
        const auto finished = static_cast<long long>(g_finished.load());
        const auto events = static_cast<long long>(g_events.load());
        const auto chunks = static_cast<long long>(g_chunks.load());
        std::printf("qnamref-stream streams=%lld failed=%lld seconds=%.3f streams_per_s=%.1f events=%lld "
                    "events_per_s=%.0f chunks=%lld chunks_per_s=%.0f ttft_p50_ms=%.1f ttft_p99_ms=%.1f "
                    "warm_ttft_p50_ms=%.1f warm_ttft_p99_ms=%.1f first_byte_p50_ms=%.1f cpu_s=%.2f\n",
                    finished, static_cast<long long>(g_failed.load()), seconds, double(finished) / seconds,
                    events, double(events) / seconds, chunks, double(chunks) / seconds,
                    percentile(g_ttftMs, 50), percentile(g_ttftMs, 99), percentile(g_warmTtftMs, 50),
                    percentile(g_warmTtftMs, 99), percentile(g_firstByteMs, 50), cpuSeconds() - cpuAtStart);
    } else {
        std::printf("qnamref %lld %.3f %.0f\n", static_cast<long long>(g_finished.load()), seconds,
                    double(g_finished.load()) / seconds);
    }
    if (g_failed.load() > 0) {
        std::fprintf(stderr, "qnamref: %lld requests failed\n", static_cast<long long>(g_failed.load()));
        return 1;
    }
    return 0;
}
