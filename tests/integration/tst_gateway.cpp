// The gateway in front of the real simulator over loopback HTTP, driven by raw TCP callers (QNAM would
// cap us at 6 connections per host). Nothing here is faked.

#include "gateway/gateway.h"
#include "sim/simulator.h"

#include "manualclock.h"
#include "rawhttp.h"

#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QSslSocket>
#include <QStandardPaths>
#include <QTcpServer>
#include <QTcpSocket>
#include <QTest>

#include <memory>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <numeric>
#include <sys/resource.h>
#include <sys/socket.h>

using namespace Sluice;
using json = nlohmann::json;

namespace {

/// One HTTP/1.1 caller on its own connection: sends one POST (or GET), reads what comes back.
struct Caller
{
    std::unique_ptr<QTcpSocket> socket;
    QByteArray buffer;
    int responses = 0; ///< complete responses read (a second one would be a bug)
    int status = 0;
    bool head = false; ///< answers to HEAD announce a Content-Length but carry no body
    QByteArray body;
    QElapsedTimer since;      ///< started when the request is written
    qint64 firstEventMs = -1; ///< when the first SSE `data:` line arrived (since `since`)
    qint64 completeMs = -1;   ///< when the whole first response had arrived
    QList<QPair<QByteArray, QByteArray>> headers;

    QByteArray header(const QByteArray &name) const
    {
        for (const auto &[key, value] : headers) {
            if (key.compare(name, Qt::CaseInsensitive) == 0) {
                return value;
            }
        }
        return QByteArray();
    }
    json bodyJson() const
    {
        return json::parse(body.constData(), body.constData() + body.size(), nullptr, false);
    }

    /// Parses every complete response in the buffer.
    void consume()
    {
        for (;;) {
            const qsizetype end = buffer.indexOf("\r\n\r\n");
            if (end < 0) {
                return;
            }
            const QList<QByteArray> lines = buffer.left(end).split('\n');
            qint64 length = 0;
            bool chunked = false;
            QList<QPair<QByteArray, QByteArray>> parsed;
            for (qsizetype i = 1; i < lines.size(); ++i) {
                const QByteArray line = lines.at(i).trimmed();
                const qsizetype colon = line.indexOf(':');
                if (colon > 0) {
                    parsed.append({line.left(colon).trimmed(), line.mid(colon + 1).trimmed()});
                    if (line.left(colon).trimmed().compare("content-length", Qt::CaseInsensitive) == 0) {
                        length = line.mid(colon + 1).trimmed().toLongLong();
                    }
                    if (line.left(colon).trimmed().compare("transfer-encoding", Qt::CaseInsensitive) == 0) {
                        chunked = line.mid(colon + 1).trimmed().compare("chunked", Qt::CaseInsensitive) == 0;
                    }
                }
            }
            if (head) {
                length = 0;
            }
            QByteArray decoded;
            if (chunked && !head) {
                length = dechunk(end + 4, &decoded);
                if (length < 0) {
                    return; // the last chunk has not arrived yet
                }
            }
            if (buffer.size() < end + 4 + length) {
                return;
            }
            const QList<QByteArray> statusLine = lines.first().split(' ');
            status = statusLine.value(1).toInt();
            headers = parsed;
            body = chunked ? decoded : buffer.mid(end + 4, length);
            buffer.remove(0, end + 4 + length);
            ++responses;
        }
    }

    /// Decodes the HTTP/1.1 chunks starting at `from` into `out`: the bytes they take up, or -1 before
    /// the terminating zero-length chunk has arrived.
    qint64 dechunk(qsizetype from, QByteArray *out) const
    {
        qsizetype at = from;
        for (;;) {
            const qsizetype lineEnd = buffer.indexOf("\r\n", at);
            if (lineEnd < 0) {
                return -1;
            }
            bool ok = false;
            const qint64 size = buffer.mid(at, lineEnd - at).trimmed().toLongLong(&ok, 16);
            if (!ok || buffer.size() < lineEnd + 2 + size + 2) {
                return -1;
            }
            out->append(buffer.mid(lineEnd + 2, size));
            at = lineEnd + 2 + size + 2;
            if (size == 0) {
                return at - from;
            }
        }
    }
};

using Test::httpRequest;

QByteArray chatBody(const QString &text)
{
    const json body = {{"messages", json::array({{{"role", "user"}, {"content", text.toStdString()}}})}};
    return QByteArray::fromStdString(body.dump());
}

/// The text of an Anthropic Messages reply.
QString anthropicText(const json &reply)
{
    if (!reply.is_object() || !reply.contains("content") || !reply["content"].is_array() ||
        reply["content"].empty()) {
        return QString();
    }
    return QString::fromStdString(reply["content"][0].value("text", std::string()));
}

QByteArray messagesBody(const QString &text)
{
    const json body = {{"model", "claude-test"},
                       {"max_tokens", 32},
                       {"messages", json::array({{{"role", "user"}, {"content", text.toStdString()}}})}};
    return QByteArray::fromStdString(body.dump());
}

/// A scripted upstream on loopback: answers every POST with the next scripted reply (the last one
/// again when the script runs out) and keeps each request's headers. For what the simulator does not
/// show: the headers the gateway sends upstream, and request ids in replies.
class ScriptedUpstream : public QObject
{
public:
    struct Reply
    {
        int status = 200;
        QByteArray body;
        QList<QPair<QByteArray, QByteArray>> headers;
    };

    explicit ScriptedUpstream(QList<Reply> script)
        : m_script(std::move(script))
    {
        connect(&m_server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = m_server.nextPendingConnection()) {
                connect(socket, &QTcpSocket::readyRead, this, [this, socket] { serve(socket); });
            }
        });
        m_server.listen(QHostAddress::LocalHost, 0);
    }
    QUrl url(const QString &path) const
    {
        return QUrl(QStringLiteral("http://127.0.0.1:%1%2").arg(m_server.serverPort()).arg(path));
    }
    /// The headers of every request received so far (names lower-cased).
    QList<QMap<QByteArray, QByteArray>> received;

private:
    void serve(QTcpSocket *socket)
    {
        QByteArray &buffer = m_buffers[socket];
        buffer += socket->readAll();
        for (;;) {
            const qsizetype end = buffer.indexOf("\r\n\r\n");
            if (end < 0) {
                return;
            }
            QMap<QByteArray, QByteArray> headers;
            for (const QByteArray &line : buffer.left(end).split('\n').mid(1)) {
                const qsizetype colon = line.indexOf(':');
                if (colon > 0) {
                    headers.insert(line.left(colon).trimmed().toLower(), line.mid(colon + 1).trimmed());
                }
            }
            const qint64 length = headers.value("content-length").toLongLong();
            if (buffer.size() < end + 4 + length) {
                return;
            }
            buffer.remove(0, end + 4 + length);
            received.append(headers);
            const Reply &r = m_script.at(std::min(m_next++, m_script.size() - 1));
            QByteArray out = "HTTP/1.1 " + QByteArray::number(r.status) +
                             " Scripted\r\nContent-Type: application/json\r\nContent-Length: " +
                             QByteArray::number(r.body.size()) + "\r\n";
            for (const auto &[key, value] : r.headers) {
                out += key + ": " + value + "\r\n";
            }
            socket->write(out + "\r\n" + r.body);
        }
    }

    QTcpServer m_server;
    QList<Reply> m_script;
    qsizetype m_next = 0;
    QHash<QTcpSocket *, QByteArray> m_buffers;
};

/// One server-sent event: its `event:` name (empty when unnamed) and its `data:` lines joined.
struct SseEvent
{
    QByteArray name;
    QByteArray data;
    json dataJson() const
    {
        return json::parse(data.constData(), data.constData() + data.size(), nullptr, false);
    }
};

/// The events of an SSE body.
QList<SseEvent> sseEvents(const QByteArray &body)
{
    QList<SseEvent> events;
    qsizetype at = 0;
    while (at < body.size()) {
        qsizetype end = body.indexOf("\n\n", at);
        if (end < 0) {
            end = body.size();
        }
        SseEvent event;
        for (const QByteArray &line : body.mid(at, end - at).split('\n')) {
            if (line.startsWith("event:")) {
                event.name = line.mid(6).trimmed();
            } else if (line.startsWith("data:")) {
                event.data +=
                    (event.data.isEmpty() ? QByteArray() : QByteArray("\n")) + line.mid(5).trimmed();
            }
        }
        if (!event.name.isEmpty() || !event.data.isEmpty()) {
            events.append(event);
        }
        at = end + 2;
    }
    return events;
}

/// The text an OpenAI stream's chunks carry (`choices[0].delta.content`), and how many chunks did.
QString openAiStreamText(const QList<SseEvent> &events, int *contentChunks = nullptr)
{
    QString text;
    int chunks = 0;
    for (const SseEvent &e : events) {
        json chunk = e.dataJson();
        if (!chunk.is_object() || !chunk.contains("choices") || chunk["choices"].empty()) {
            continue;
        }
        const json delta = chunk["choices"][0].value("delta", json::object());
        if (delta.contains("content") && delta["content"].is_string() &&
            !delta["content"].get<std::string>().empty()) {
            text += QString::fromStdString(delta["content"].get<std::string>());
            ++chunks;
        }
    }
    if (contentChunks) {
        *contentChunks = chunks;
    }
    return text;
}

/// The text an Anthropic stream's content_block_delta events carry, and how many did.
QString anthropicStreamText(const QList<SseEvent> &events, int *contentChunks = nullptr)
{
    QString text;
    int chunks = 0;
    for (const SseEvent &e : events) {
        json event = e.dataJson();
        if (e.name == "content_block_delta" && event["delta"].value("type", std::string()) == "text_delta" &&
            !event["delta"].value("text", std::string()).empty()) {
            text += QString::fromStdString(event["delta"].value("text", std::string()));
            ++chunks;
        }
    }
    if (contentChunks) {
        *contentChunks = chunks;
    }
    return text;
}

/// A streamed OpenAI chat body; `includeUsage` asks for the usage chunk.
QByteArray streamChatBody(const QString &text, bool includeUsage = true)
{
    json body = {{"model", "gpt-test"},
                 {"stream", true},
                 {"messages", json::array({{{"role", "user"}, {"content", text.toStdString()}}})}};
    if (includeUsage) {
        body["stream_options"] = {{"include_usage", true}};
    }
    return QByteArray::fromStdString(body.dump());
}

/// A streamed Anthropic Messages body.
QByteArray streamMessagesBody(const QString &text)
{
    const json body = {{"model", "claude-test"},
                       {"max_tokens", 256},
                       {"stream", true},
                       {"messages", json::array({{{"role", "user"}, {"content", text.toStdString()}}})}};
    return QByteArray::fromStdString(body.dump());
}

/// The value of one sample line of a Prometheus text (`name{labels}`), -1 when absent.
double sampleOf(const QByteArray &metrics, const QByteArray &sample)
{
    for (const QByteArray &line : metrics.split('\n')) {
        if (line.startsWith(QByteArray(sample + ' '))) {
            return line.mid(sample.size() + 1).trimmed().toDouble();
        }
    }
    return -1;
}

QString replyText(const json &reply)
{
    if (!reply.is_object() || !reply.contains("choices")) {
        return QString();
    }
    return QString::fromStdString(reply["choices"][0]["message"]["content"].get<std::string>());
}

} // namespace

class tst_Gateway : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();
    void thousandCallersEachAnsweredOnceUnderTheLimit();
    void fifoWithinPriority();
    void callersThatLeaveAreNeverSent();
    void fullQueueAnswers429WithRetryAfter();
    void deadlineInTheQueueIs504AndNotSent();
    void deadlineWhileUpstreamIsSlowIs504();
    void retriesStopWhenTheCallerRunsOutOfTime();
    void callersKeyIsNotForwarded();
    void callersKeyIsForwardedWhenConfigured();
    void upstreamErrorsPassThrough();
    void messagesAndBalancerShapes();
    void healthStatusAndMetricsParse();
    void cliServeStartsAndStops();
    // Issue 20.
    void repliesComeInTheCallersDialect();
    void errorsComeInTheCallersDialect();
    void modelsCountTokensHeadAndUnknownRoutes();
    void retryHeadersAreTheUpstreams();
    void requestIdsAndDialectHeadersPassThrough();
    void healthIsUnavailableWhenNoEndpointServes();
    void stopAnswersEveryCallerInItsDialect();
    void cliSigtermAnswersCallersWaitingBehindALimit();
    void gaugesAndDeadlinesFollowTheInjectedClock();
    void callerKeysAndTheirLimits();
    void tlsServesHttps();
    // Streaming (SSE) through the gateway.
    void openAiStreamArrivesAsTheUpstreamSendsIt();
    void anthropicStreamPassesThrough();
    void streamsAreTranslatedAcrossDialects_data();
    void streamsAreTranslatedAcrossDialects();
    void streamIsRetriedOnlyBeforeItsFirstByte_data();
    void streamIsRetriedOnlyBeforeItsFirstByte();
    void streamFailingAfterItsFirstByteEndsWithAnErrorEvent_data();
    void streamFailingAfterItsFirstByteEndsWithAnErrorEvent();
    void callerLeavingMidStreamCancelsTheUpstream();

private:
    /// Starts a simulator and a gateway with one endpoint on it.
    /// `simRps`: the simulator's own limit (429 above it, burst rps / 10); 0 = none.
    void startGateway(const GatewayOptions &options = {}, double rpm = 0, int maxInFlight = 64,
                      double simRps = 0);
    Caller &call(const QByteArray &request);
    /// Opens `count` connections and waits until all are connected.
    void connectCallers(int count);
    bool waitForResponses(const std::vector<std::size_t> &which, int timeoutMs = 20000);
    /// Starts a simulator with this (streaming) configuration and a gateway with one endpoint on it,
    /// speaking `dialect`; retries wait at most 20 ms.
    void startStreaming(const SimulatorConfig &config, Provider dialect);
    /// The gateway's /metrics text.
    QByteArray metricsText();

    std::unique_ptr<Simulator> m_sim;
    std::unique_ptr<Test::ManualClock> m_clock; ///< outlives the gateway that runs on it
    std::unique_ptr<Gateway> m_gateway;
    std::vector<std::unique_ptr<Caller>> m_callers;
};

void tst_Gateway::initTestCase()
{
    // 1,000 callers and their server-side sockets, plus the upstream connections.
    rlimit limit{};
    QVERIFY(getrlimit(RLIMIT_NOFILE, &limit) == 0);
    if (limit.rlim_cur < 4096 && limit.rlim_max >= 4096) {
        limit.rlim_cur = 4096;
        QVERIFY(setrlimit(RLIMIT_NOFILE, &limit) == 0);
    }
}

void tst_Gateway::init()
{
    m_callers.clear();
}

void tst_Gateway::cleanup()
{
    m_callers.clear();
    m_gateway.reset();
    m_clock.reset();
    m_sim.reset();
}

void tst_Gateway::startGateway(const GatewayOptions &options, double rpm, int maxInFlight, double simRps)
{
    SimulatorConfig config;
    config.rps = simRps;
    m_sim = std::make_unique<Simulator>(config);
    m_sim->setRecording(true);
    QVERIFY(m_sim->listen());
    EndpointConfig e = EndpointConfig::fromUrl(m_sim->chatUrl(), 0);
    e.name = QStringLiteral("sim");
    e.model = QStringLiteral("test-model");
    e.rpm = rpm;
    e.maxInFlight = maxInFlight;
    e.timeoutS = 10;
    ProjectConfig project;
    project.endpoints = {e};
    m_gateway = std::make_unique<Gateway>(project, options);
    const auto port = m_gateway->start();
    QVERIFY2(bool(port), port ? "" : qPrintable(port.error().message));
    QVERIFY(*port != 0);
}

Caller &tst_Gateway::call(const QByteArray &request)
{
    auto caller = std::make_unique<Caller>();
    caller->socket = std::make_unique<QTcpSocket>();
    caller->head = request.startsWith("HEAD ");
    Caller *c = caller.get();
    QObject::connect(c->socket.get(), &QTcpSocket::readyRead, c->socket.get(), [c] {
        c->buffer += c->socket->readAll();
        if (c->firstEventMs < 0 && c->buffer.contains("data:")) {
            c->firstEventMs = c->since.elapsed();
        }
        c->consume();
        if (c->completeMs < 0 && c->responses > 0) {
            c->completeMs = c->since.elapsed();
        }
    });
    c->socket->connectToHost(QHostAddress::LocalHost, m_gateway->port());
    c->socket->write(request);
    c->since.start();
    m_callers.push_back(std::move(caller));
    return *c;
}

void tst_Gateway::connectCallers(int count)
{
    for (int i = 0; i < count; ++i) {
        auto caller = std::make_unique<Caller>();
        caller->socket = std::make_unique<QTcpSocket>();
        Caller *c = caller.get();
        QObject::connect(c->socket.get(), &QTcpSocket::readyRead, c->socket.get(), [c] {
            c->buffer += c->socket->readAll();
            c->consume();
        });
        c->socket->connectToHost(QHostAddress::LocalHost, m_gateway->port());
        m_callers.push_back(std::move(caller));
    }
    QTRY_VERIFY_WITH_TIMEOUT(
        std::all_of(m_callers.begin(), m_callers.end(),
                    [](const auto &c) { return c->socket->state() == QAbstractSocket::ConnectedState; }),
        10000);
}

bool tst_Gateway::waitForResponses(const std::vector<std::size_t> &which, int timeoutMs)
{
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < timeoutMs) {
        if (std::all_of(which.begin(), which.end(),
                        [this](std::size_t i) { return m_callers[i]->responses > 0; })) {
            return true;
        }
        QTest::qWait(10);
        if (m_clock) {
            m_clock->settle(); // an engine on the manual clock runs its due work only when asked
        }
    }
    return false;
}

void tst_Gateway::thousandCallersEachAnsweredOnceUnderTheLimit()
{
    constexpr int Callers = 1000;
    constexpr double Rps = 250; // the endpoint's limit: 1,000 callers take about 4 s
    GatewayOptions options;
    options.maxQueue = 2000;
    startGateway(options, Rps * 60, 64, Rps); // the simulator enforces the same limit
    connectCallers(Callers);
    for (int i = 0; i < Callers; ++i) {
        m_callers[std::size_t(i)]->socket->write(
            httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("caller %1").arg(i))));
    }
    std::vector<std::size_t> all(Callers);
    std::iota(all.begin(), all.end(), 0);
    const bool allAnswered = waitForResponses(all, 30000);
    const GatewayCounters seen = m_gateway->counters();
    QVERIFY2(allAnswered,
             qPrintable(QStringLiteral("%1 of %2 answered; gateway: %3 accepted, %4 answered, %5 "
                                       "waiting; upstream: %6 requests")
                            .arg(std::count_if(m_callers.begin(), m_callers.end(),
                                               [](const auto &c) { return c->responses > 0; }))
                            .arg(Callers)
                            .arg(seen.accepted)
                            .arg(seen.answered)
                            .arg(seen.waiting)
                            .arg(m_sim->stats().requests)));
    QTest::qWait(200); // a second answer to anyone would arrive by now

    for (int i = 0; i < Callers; ++i) {
        const Caller &c = *m_callers[std::size_t(i)];
        QVERIFY2(c.responses == 1,
                 qPrintable(QStringLiteral("caller %1 got %2 answers").arg(i).arg(c.responses)));
        QVERIFY2(c.status == 200, qPrintable(QStringLiteral("caller %1: status %2").arg(i).arg(c.status)));
        // Its own reply, never another caller's.
        const QString text = replyText(c.bodyJson());
        QVERIFY2(text == QStringLiteral("Simulated reply to: caller %1").arg(i), qPrintable(text));
    }
    const auto received = m_sim->received();
    QCOMPARE(received.size(), qsizetype(Callers));
    QCOMPARE(m_sim->stats().rateLimited, qint64(0));
    // Over any 1 s window upstream: at most the limit plus the bucket's allowance, plus 2 % for the
    // simulator's receive times, which bunch when this one thread (callers, gateway, simulator) is busy.
    qsizetype left = 0;
    qsizetype most = 0;
    for (qsizetype right = 0; right < received.size(); ++right) {
        while (received.at(right).atMs - received.at(left).atMs >= 1000) {
            ++left;
        }
        most = std::max(most, right - left + 1);
    }
    QVERIFY2(most <= qsizetype(Rps * 1.02) + 1,
             qPrintable(QStringLiteral("%1 upstream in one second").arg(most)));
    const GatewayCounters counters = m_gateway->counters();
    QCOMPARE(counters.accepted, qint64(Callers));
    QCOMPARE(counters.answered, qint64(Callers));
    QCOMPARE(counters.waiting, qint64(0));
}

void tst_Gateway::fifoWithinPriority()
{
    startGateway({}, 0, 1); // one request at a time upstream: the order sent is the order received
    m_gateway->engine().setEndpointWeight(0, 0); // hold everything in the queue
    constexpr int Callers = 120;
    const int priorities[] = {0, 5, 9, 5};
    for (int i = 0; i < Callers; ++i) {
        const int priority = priorities[i % 4];
        call(httpRequest("POST", "/v1/chat/completions",
                         chatBody(QStringLiteral("p%1 n%2").arg(priority).arg(i)),
                         {{"X-Sluice-Priority", QByteArray::number(priority)}}));
        // One at a time, so the gateway's arrival order is the order written here.
        QTRY_COMPARE_WITH_TIMEOUT(m_gateway->counters().accepted, qint64(i + 1), 5000);
    }
    QCOMPARE(m_sim->received().size(), qsizetype(0));
    m_gateway->engine().setEndpointWeight(0, 1);
    std::vector<std::size_t> all(Callers);
    std::iota(all.begin(), all.end(), 0);
    QVERIFY(waitForResponses(all));

    // Expected: priority 9 in arrival order, then 5, then 0.
    QStringList expected;
    for (const int priority : {9, 5, 0}) {
        for (int i = 0; i < Callers; ++i) {
            if (priorities[i % 4] == priority) {
                expected.append(QStringLiteral("p%1 n%2").arg(priority).arg(i));
            }
        }
    }
    QStringList seen;
    for (const Simulator::Received &r : m_sim->received()) {
        seen.append(r.text);
    }
    QCOMPARE(seen, expected);
}

void tst_Gateway::callersThatLeaveAreNeverSent()
{
    startGateway();
    m_gateway->engine().setEndpointWeight(0, 0);
    std::vector<std::size_t> staying;
    std::vector<Caller *> leaving;
    for (int i = 0; i < 30; ++i) {
        const bool leaves = i % 3 == 0;
        Caller &c =
            call(httpRequest("POST", "/v1/chat/completions",
                             chatBody(QStringLiteral("%1 %2")
                                          .arg(leaves ? QStringLiteral("leave") : QStringLiteral("stay"))
                                          .arg(i))));
        (leaves ? void(leaving.push_back(&c)) : void(staying.push_back(m_callers.size() - 1)));
    }
    QTRY_COMPARE_WITH_TIMEOUT(m_gateway->counters().accepted, qint64(30), 5000);
    for (Caller *c : leaving) {
        c->socket->abort();
    }
    QTRY_COMPARE_WITH_TIMEOUT(m_gateway->counters().goneQueued, qint64(leaving.size()), 5000);
    m_gateway->engine().setEndpointWeight(0, 1);
    QVERIFY(waitForResponses(staying));
    QTest::qWait(200);
    const auto received = m_sim->received();
    QCOMPARE(received.size(), qsizetype(staying.size()));
    for (const Simulator::Received &r : received) {
        QVERIFY2(r.text.startsWith(QLatin1String("stay")), qPrintable(r.text));
    }
    QCOMPARE(m_gateway->counters().waiting, qint64(0));
}

void tst_Gateway::fullQueueAnswers429WithRetryAfter()
{
    GatewayOptions options;
    options.maxQueue = 5;
    startGateway(options);
    m_gateway->engine().setEndpointWeight(0, 0);
    for (int i = 0; i < 8; ++i) {
        call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("q%1").arg(i))));
        QTRY_COMPARE_WITH_TIMEOUT(m_gateway->counters().accepted + m_gateway->counters().queueFull,
                                  qint64(i + 1), 5000);
    }
    QCOMPARE(m_gateway->counters().accepted, qint64(5));
    QCOMPARE(m_gateway->counters().queueFull, qint64(3));
    for (std::size_t i = 5; i < 8; ++i) {
        QTRY_COMPARE_WITH_TIMEOUT(m_callers[i]->responses, 1, 5000);
        QCOMPARE(m_callers[i]->status, 429);
        QVERIFY(m_callers[i]->header("Retry-After").toInt() >= 1);
    }
    m_gateway->engine().setEndpointWeight(0, 1);
    QVERIFY(waitForResponses({0, 1, 2, 3, 4}));
    for (std::size_t i = 0; i < 5; ++i) {
        QCOMPARE(m_callers[i]->status, 200);
    }
    QCOMPARE(m_sim->received().size(), qsizetype(5));
}

void tst_Gateway::deadlineInTheQueueIs504AndNotSent()
{
    startGateway();
    m_gateway->engine().setEndpointWeight(0, 0);
    QElapsedTimer timer;
    timer.start();
    Caller &c = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("late")),
                                 {{"X-Sluice-Timeout", "0.3"}}));
    QTRY_COMPARE_WITH_TIMEOUT(c.responses, 1, 5000);
    QVERIFY2(timer.elapsed() >= 250, qPrintable(QString::number(timer.elapsed())));
    QCOMPARE(c.status, 504);
    QVERIFY(c.header("Retry-After").toInt() >= 1);
    QVERIFY(c.body.contains("not sent"));
    m_gateway->engine().setEndpointWeight(0, 1);
    QTest::qWait(300);
    QCOMPARE(m_sim->received().size(), qsizetype(0));
    QCOMPARE(m_gateway->counters().deadlineQueued, qint64(1));
}

void tst_Gateway::deadlineWhileUpstreamIsSlowIs504()
{
    startGateway();
    Caller &c =
        call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("slow @sim(delay_ms=3000)")),
                         {{"X-Sluice-Timeout", "0.5"}}));
    QTRY_COMPARE_WITH_TIMEOUT(c.responses, 1, 5000);
    QCOMPARE(c.status, 504);
    QVERIFY(c.header("Retry-After").toInt() >= 1);
    QCOMPARE(m_gateway->counters().deadlineSent, qint64(1));
    QCOMPARE(m_sim->stats().requests, qint64(1)); // it was sent; its answer came too late
    QTest::qWait(100);
    QCOMPARE(c.responses, 1);
}

void tst_Gateway::retriesStopWhenTheCallerRunsOutOfTime()
{
    m_sim = std::make_unique<Simulator>();
    QVERIFY(m_sim->listen());
    EndpointConfig e = EndpointConfig::fromUrl(m_sim->chatUrl(), 0);
    e.name = QStringLiteral("failing");
    ProjectConfig project;
    project.endpoints = {e};
    project.limits.retry.maxAttempts = 50;
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{});
    QVERIFY(bool(m_gateway->start()));
    Caller &c = call(httpRequest("POST", "/v1/chat/completions",
                                 chatBody(QStringLiteral("@sim(status=429,retry_after_ms=100)")),
                                 {{"X-Sluice-Timeout", "1"}}));
    QTRY_COMPARE_WITH_TIMEOUT(c.responses, 1, 5000);
    QCOMPARE(c.status, 504);
    const qint64 sentByTheDeadline = m_sim->stats().requests;
    // It was being retried: 429s wait for the endpoint's cooldown (100 ms here), not for retry credit.
    QVERIFY2(sentByTheDeadline >= 2, qPrintable(QString::number(sentByTheDeadline)));
    // The retry waiting for the cooldown is dropped: nothing more goes upstream for a caller that got
    // its answer (at most the attempt already on the wire).
    QTest::qWait(800);
    QVERIFY2(m_sim->stats().requests <= sentByTheDeadline + 1,
             qPrintable(QStringLiteral("%1 then %2").arg(sentByTheDeadline).arg(m_sim->stats().requests)));
}

void tst_Gateway::callersKeyIsForwardedWhenConfigured()
{
    // The simulator accepts only the callers' key; the endpoint's own key would get 401.
    const QByteArray callerKey = "sk-caller-own-key-0123456789";
    qputenv("SLUICE_TST_GATEWAY_KEY", "sk-endpoint-other-key-987654");
    m_sim = std::make_unique<Simulator>();
    SimulatorConfig config;
    config.requireKey = QString::fromLatin1(callerKey);
    m_sim->setConfig(config);
    QVERIFY(m_sim->listen());
    EndpointConfig e = EndpointConfig::fromUrl(m_sim->chatUrl(), 0);
    e.name = QStringLiteral("forwarding");
    e.apiKeyEnv = QStringLiteral("SLUICE_TST_GATEWAY_KEY");
    e.forwardCallerKey = true;
    ProjectConfig project;
    project.endpoints = {e};
    project.limits.retry.maxAttempts = 1;
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{});
    QVERIFY(bool(m_gateway->start()));
    Caller &bearer = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("f1")),
                                      {{"Authorization", "Bearer " + callerKey}}));
    Caller &xApiKey = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("f2")),
                                       {{"x-api-key", callerKey}}));
    Caller &none = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("f3"))));
    QTRY_COMPARE_WITH_TIMEOUT(bearer.responses + xApiKey.responses + none.responses, 3, 5000);
    QCOMPARE(bearer.status, 200);
    QCOMPARE(xApiKey.status, 200);
    QCOMPARE(none.status, 401); // no key of its own: the endpoint's key went, and was refused
    qunsetenv("SLUICE_TST_GATEWAY_KEY");
}

void tst_Gateway::callersKeyIsNotForwarded()
{
    const QByteArray endpointKey = "sk-endpoint-secret-0123456789";
    qputenv("SLUICE_TST_GATEWAY_KEY", endpointKey);
    m_sim = std::make_unique<Simulator>();
    SimulatorConfig config;
    config.requireKey = QString::fromLatin1(endpointKey);
    m_sim->setConfig(config);
    m_sim->setRecording(true);
    QVERIFY(m_sim->listen());
    EndpointConfig e = EndpointConfig::fromUrl(m_sim->chatUrl(), 0);
    e.name = QStringLiteral("keyed");
    e.apiKeyEnv = QStringLiteral("SLUICE_TST_GATEWAY_KEY");
    ProjectConfig project;
    project.endpoints = {e};
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{});
    QVERIFY(bool(m_gateway->start()));
    // The caller's own (wrong) key would get 401 from the simulator if it were forwarded.
    Caller &bearer = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("k1")),
                                      {{"Authorization", "Bearer sk-caller-wrong-key-xyz"}}));
    Caller &xApiKey = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("k2")),
                                       {{"x-api-key", "sk-caller-wrong-key-xyz"}}));
    QTRY_COMPARE_WITH_TIMEOUT(bearer.responses, 1, 5000);
    QTRY_COMPARE_WITH_TIMEOUT(xApiKey.responses, 1, 5000);
    QCOMPARE(bearer.status, 200);
    QCOMPARE(xApiKey.status, 200);
    for (const Caller *c : {&bearer, &xApiKey}) {
        QVERIFY(!c->body.contains(endpointKey));
        for (const auto &[key, value] : c->headers) {
            QVERIFY(!value.contains(endpointKey));
        }
    }
    Caller &status = call(httpRequest("GET", "/status"));
    Caller &metrics = call(httpRequest("GET", "/metrics"));
    QTRY_COMPARE_WITH_TIMEOUT(status.responses + metrics.responses, 2, 5000);
    QVERIFY(!status.body.contains(endpointKey));
    QVERIFY(!metrics.body.contains(endpointKey));
    qunsetenv("SLUICE_TST_GATEWAY_KEY");
}

void tst_Gateway::upstreamErrorsPassThrough()
{
    startGateway();
    Caller &bad =
        call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("x @sim(status=400)"))));
    Caller &notJson = call(httpRequest("POST", "/v1/chat/completions", "{not json"));
    Caller &noRoute = call(httpRequest("POST", "/v1/other", chatBody(QStringLiteral("y"))));
    Caller &stream = call(httpRequest("POST", "/v1/chat/completions",
                                      R"({"stream": true, "messages": [{"role": "user", "content": "s"}]})"));
    Caller &priority = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("p")),
                                        {{"X-Sluice-Priority", "high"}}));
    QTRY_COMPARE_WITH_TIMEOUT(bad.responses + notJson.responses + noRoute.responses + stream.responses +
                                  priority.responses,
                              5, 5000);
    QCOMPARE(bad.status, 400);
    QCOMPARE(bad.header("X-Sluice-Error-Class"), QByteArray("client"));
    QVERIFY(bad.bodyJson().contains("error")); // the upstream's error object
    QCOMPARE(notJson.status, 400);
    QCOMPARE(noRoute.status, 404);
    // A streamed call is answered as a stream: SSE events in HTTP/1.1 chunks, ending in [DONE].
    QCOMPARE(stream.status, 200);
    QVERIFY(stream.header("Content-Type").startsWith("text/event-stream"));
    QVERIFY2(stream.body.contains("data: {") && stream.body.trimmed().endsWith("data: [DONE]"),
             stream.body.constData());
    QCOMPARE(priority.status, 400);
    QCOMPARE(m_sim->received().size(), qsizetype(2)); // the bad one and the stream went upstream
}

void tst_Gateway::messagesAndBalancerShapes()
{
    startGateway();
    const json anthropic = {{"model", "claude-test"},
                            {"max_tokens", 50},
                            {"messages", json::array({{{"role", "user"}, {"content", "hello anthropic"}}})}};
    Caller &messages = call(httpRequest("POST", "/v1/messages", QByteArray::fromStdString(anthropic.dump())));
    const json legacy = {
        {"provider", "openai"},
        {"model", "gpt-test"},
        {"payload", {{"messages", json::array({{{"role", "user"}, {"content", "hello go"}}})}}}};
    Caller &completions =
        call(httpRequest("POST", "/api/v1/completions", QByteArray::fromStdString(legacy.dump())));
    QTRY_COMPARE_WITH_TIMEOUT(messages.responses + completions.responses, 2, 5000);
    QCOMPARE(messages.status, 200);
    QCOMPARE(completions.status, 200);
    // The endpoint speaks OpenAI: the Messages body was translated there and the reply back (the
    // caller's dialect decides the shape); the legacy model was applied.
    QCOMPARE(anthropicText(messages.bodyJson()), QStringLiteral("Simulated reply to: hello anthropic"));
    QCOMPARE(messages.bodyJson().value("type", std::string()), std::string("message"));
    QCOMPARE(replyText(completions.bodyJson()), QStringLiteral("Simulated reply to: hello go"));
    QCOMPARE(completions.bodyJson().value("model", std::string()), std::string("gpt-test"));
    QCOMPARE(completions.header("X-Sluice-Endpoint"), QByteArray("sim"));
}

void tst_Gateway::healthStatusAndMetricsParse()
{
    startGateway();
    for (int i = 0; i < 3; ++i) {
        call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("m%1").arg(i))));
    }
    QVERIFY(waitForResponses({0, 1, 2}));
    Caller &health = call(httpRequest("GET", "/health"));
    Caller &status = call(httpRequest("GET", "/status"));
    Caller &metrics = call(httpRequest("GET", "/metrics"));
    Caller &wrongMethod = call(httpRequest("POST", "/health", "{}"));
    QTRY_COMPARE_WITH_TIMEOUT(health.responses + status.responses + metrics.responses + wrongMethod.responses,
                              4, 5000);
    QCOMPARE(health.status, 200);
    const json h = health.bodyJson();
    QCOMPARE(h.value("status", std::string()), std::string("ok"));
    QCOMPARE(h["endpoints"].size(), std::size_t(1));
    QCOMPARE(h["endpoints"][0].value("name", std::string()), std::string("sim"));
    QCOMPARE(status.status, 200);
    const json s = status.bodyJson();
    QVERIFY(s.contains("queue_depth") && s.contains("in_flight") && s.contains("endpoints"));
    QCOMPARE(s["callers"].value("answered", 0), 3);
    QCOMPARE(s.value("succeeded", 0), 3);
    QCOMPARE(wrongMethod.status, 405);

    QCOMPARE(metrics.status, 200);
    QVERIFY(metrics.header("Content-Type").startsWith("text/plain"));
    // Every line: a comment, or `name{labels} value` in the exposition format.
    const QRegularExpression sample(
        QStringLiteral("^[a-zA-Z_:][a-zA-Z0-9_:]*(\\{([a-zA-Z_][a-zA-Z0-9_]*=\"([^\"\\\\]|\\\\.)*\",?)*\\})? "
                       "[-+0-9.eEinfNa]+$"));
    QMap<QString, double> values;
    const QList<QByteArray> lines = metrics.body.split('\n');
    for (const QByteArray &line : lines) {
        if (line.isEmpty() || line.startsWith('#')) {
            continue;
        }
        const QString text = QString::fromUtf8(line);
        QVERIFY2(sample.match(text).hasMatch(), qPrintable(text));
        values.insert(text.section(QLatin1Char(' '), 0, 0), text.section(QLatin1Char(' '), 1, 1).toDouble());
    }
    QCOMPARE(values.value(QStringLiteral("sluice_requests_issued_total")), 3.0);
    QCOMPARE(values.value(QStringLiteral("sluice_requests_finished_total{outcome=\"success\"}")), 3.0);
    QCOMPARE(values.value(QStringLiteral("sluice_endpoint_attempts_total{endpoint=\"sim\",result=\"ok\"}")),
             3.0);
    QCOMPARE(values.value(QStringLiteral("sluice_gateway_callers_total{result=\"answered\"}")), 3.0);
    QVERIFY(values.contains(QStringLiteral("sluice_queue_depth")));
    QCOMPARE(values.value(QStringLiteral("sluice_endpoint_request_duration_seconds_count{endpoint=\"sim\"}")),
             3.0);
    QCOMPARE(values.value(QStringLiteral("sluice_gateway_request_duration_seconds_count")), 3.0);
    // The Prometheus linter finds nothing to say (no `_ms`, no gauges with a quantile label).
    const QString promtool = QStandardPaths::findExecutable(QStringLiteral("promtool"));
    QVERIFY2(!promtool.isEmpty(), "promtool is missing: run packaging/install-deps.sh");
    QProcess check;
    check.start(promtool, {QStringLiteral("check"), QStringLiteral("metrics")});
    QVERIFY(check.waitForStarted());
    check.write(metrics.body);
    check.closeWriteChannel();
    QVERIFY(check.waitForFinished(30000));
    const QByteArray said = check.readAllStandardOutput() + check.readAllStandardError();
    QVERIFY2(check.exitCode() == 0 && said.trimmed().isEmpty(), said.constData());
}

void tst_Gateway::cliServeStartsAndStops()
{
    Simulator sim;
    QVERIFY(sim.listen());
    QProcess cli;
    cli.setProgram(QStringLiteral(SLUICE_CLI_PATH));
    cli.setArguments({QStringLiteral("serve"), QStringLiteral("--endpoint"), sim.chatUrl().toString(),
                      QStringLiteral("--port"), QStringLiteral("0"), QStringLiteral("--max-queue"),
                      QStringLiteral("10")});
    cli.start();
    QVERIFY(cli.waitForStarted());
    QByteArray err;
    const QRegularExpression listening(QStringLiteral("listening on http://127\\.0\\.0\\.1:(\\d+)"));
    QRegularExpressionMatch match;
    QTRY_VERIFY_WITH_TIMEOUT((err += cli.readAllStandardError(),
                              match = listening.match(QString::fromUtf8(err)), match.hasMatch()),
                             10000);
    const quint16 port = quint16(match.captured(1).toUInt());
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, port);
    QVERIFY(socket.waitForConnected(5000));
    socket.write(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("via cli"))));
    Caller reply;
    QTRY_VERIFY_WITH_TIMEOUT((reply.buffer += socket.readAll(), reply.consume(), reply.responses == 1),
                             10000);
    QCOMPARE(reply.status, 200);
    QCOMPARE(replyText(reply.bodyJson()), QStringLiteral("Simulated reply to: via cli"));
    cli.terminate(); // SIGTERM: a graceful stop
    QVERIFY(cli.waitForFinished(10000));
    QCOMPARE(cli.exitStatus(), QProcess::NormalExit);
    QCOMPARE(cli.exitCode(), 0);
    err += cli.readAllStandardError();
    QVERIFY2(err.contains("1 callers accepted, 1 answered"), err.constData());
}

void tst_Gateway::repliesComeInTheCallersDialect()
{
    // The README's mixed project: an OpenAI and an Anthropic endpoint, equal weights.
    m_sim = std::make_unique<Simulator>();
    QVERIFY(m_sim->listen());
    EndpointConfig openai = EndpointConfig::fromUrl(m_sim->chatUrl(), 0);
    openai.name = QStringLiteral("oa");
    EndpointConfig anthropic = EndpointConfig::fromUrl(m_sim->messagesUrl(), 1);
    anthropic.name = QStringLiteral("an");
    QVERIFY(anthropic.provider == Provider::Anthropic);
    ProjectConfig project;
    project.endpoints = {openai, anthropic};
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{});
    QVERIFY(bool(m_gateway->start()));
    constexpr int PerDialect = 8;
    for (int i = 0; i < PerDialect; ++i) {
        call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("o%1").arg(i))));
        call(httpRequest("POST", "/v1/messages", messagesBody(QStringLiteral("a%1").arg(i))));
    }
    std::vector<std::size_t> all(2 * PerDialect);
    std::iota(all.begin(), all.end(), 0);
    QVERIFY(waitForResponses(all));
    QSet<QByteArray> endpoints;
    for (std::size_t i = 0; i < all.size(); ++i) {
        const Caller &c = *m_callers[i];
        QCOMPARE(c.status, 200);
        endpoints.insert(c.header("X-Sluice-Endpoint"));
        const json reply = c.bodyJson();
        if (i % 2 == 0) { // OpenAI caller: choices, finish_reason, prompt/completion tokens
            QCOMPARE(replyText(reply), QStringLiteral("Simulated reply to: o%1").arg(i / 2));
            QCOMPARE(reply.value("object", std::string()), std::string("chat.completion"));
            QCOMPARE(reply["choices"][0].value("finish_reason", std::string()), std::string("stop"));
            QVERIFY(reply["usage"].value("completion_tokens", 0) > 0);
        } else { // Anthropic caller: content blocks, stop_reason, input/output tokens
            QCOMPARE(anthropicText(reply), QStringLiteral("Simulated reply to: a%1").arg(i / 2));
            QCOMPARE(reply.value("type", std::string()), std::string("message"));
            QCOMPARE(reply.value("stop_reason", std::string()), std::string("end_turn"));
            QVERIFY(reply["usage"].value("output_tokens", 0) > 0);
            QVERIFY(!reply.contains("choices"));
        }
    }
    // Both endpoints answered callers of both dialects.
    QCOMPARE(endpoints, (QSet<QByteArray>{"oa", "an"}));
}

void tst_Gateway::errorsComeInTheCallersDialect()
{
    m_sim = std::make_unique<Simulator>();
    QVERIFY(m_sim->listen());
    EndpointConfig anthropic = EndpointConfig::fromUrl(m_sim->messagesUrl(), 0);
    anthropic.name = QStringLiteral("an");
    ProjectConfig project;
    project.endpoints = {anthropic};
    GatewayOptions options;
    options.maxQueue = 2;
    m_gateway = std::make_unique<Gateway>(project, options);
    QVERIFY(bool(m_gateway->start()));
    // An upstream Anthropic 400 to an OpenAI caller, and to an Anthropic one.
    Caller &openaiBad =
        call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("x @sim(status=400)"))));
    Caller &anthropicBad =
        call(httpRequest("POST", "/v1/messages", messagesBody(QStringLiteral("y @sim(status=400)"))));
    // The gateway's own refusals: a bad body, an unknown route (Anthropic SDKs send anthropic-version).
    Caller &notJson = call(httpRequest("POST", "/v1/messages", "{nope"));
    Caller &noRoute = call(httpRequest("GET", "/v1/files", {}, {{"anthropic-version", "2023-06-01"}}));
    QTRY_COMPARE_WITH_TIMEOUT(
        openaiBad.responses + anthropicBad.responses + notJson.responses + noRoute.responses, 4, 5000);
    const auto isOpenAiError = [](const json &b) {
        return b.is_object() && b.contains("error") && b["error"].is_object() &&
               b["error"].contains("message") && b["error"].contains("type") && b["error"].contains("code") &&
               b["error"].contains("param") && !b.contains("type");
    };
    const auto isAnthropicError = [](const json &b) {
        return b.is_object() && b.value("type", std::string()) == "error" && b["error"].is_object() &&
               b["error"].contains("type") && b["error"].contains("message");
    };
    QCOMPARE(openaiBad.status, 400);
    QVERIFY2(isOpenAiError(openaiBad.bodyJson()), openaiBad.body.constData());
    QCOMPARE(openaiBad.bodyJson()["error"].value("type", std::string()),
             std::string("invalid_request_error"));
    QCOMPARE(openaiBad.header("X-Sluice-Error-Class"), QByteArray("client"));
    QCOMPARE(anthropicBad.status, 400);
    QVERIFY2(isAnthropicError(anthropicBad.bodyJson()), anthropicBad.body.constData());
    QCOMPARE(notJson.status, 400);
    QVERIFY2(isAnthropicError(notJson.bodyJson()), notJson.body.constData());
    QCOMPARE(notJson.header("X-Sluice-Error-Class"), QByteArray("invalid_request"));
    QCOMPARE(noRoute.status, 404);
    QVERIFY2(isAnthropicError(noRoute.bodyJson()), noRoute.body.constData());
    QCOMPARE(noRoute.bodyJson()["error"].value("type", std::string()), std::string("not_found_error"));
    QCOMPARE(noRoute.header("X-Sluice-Error-Class"), QByteArray("not_found"));

    // Queue full, in each caller's dialect.
    m_gateway->engine().setEndpointWeight(0, 0);
    Caller &held = call(httpRequest("POST", "/v1/messages", messagesBody(QStringLiteral("held"))));
    Caller &held2 = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("held 2"))));
    QTRY_COMPARE_WITH_TIMEOUT(m_gateway->counters().accepted, qint64(4), 5000);
    Caller &fullA = call(httpRequest("POST", "/v1/messages", messagesBody(QStringLiteral("full a"))));
    Caller &fullO = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("full o"))));
    QTRY_COMPARE_WITH_TIMEOUT(fullA.responses + fullO.responses, 2, 5000);
    QCOMPARE(fullA.status, 429);
    QVERIFY2(isAnthropicError(fullA.bodyJson()), fullA.body.constData());
    QCOMPARE(fullA.bodyJson()["error"].value("type", std::string()), std::string("rate_limit_error"));
    QCOMPARE(fullO.status, 429);
    QVERIFY2(isOpenAiError(fullO.bodyJson()), fullO.body.constData());
    QCOMPARE(fullO.bodyJson()["error"].value("code", std::string()), std::string("sluice_queue_full"));
    for (const Caller *c : {&fullA, &fullO}) {
        QCOMPARE(c->header("X-Sluice-Error-Class"), QByteArray("queue_full"));
        QVERIFY(c->header("Retry-After").toInt() >= 1);
        QCOMPARE(c->header("x-should-retry"), QByteArray("true"));
    }
    QCOMPARE(held.responses + held2.responses, 0);
}

void tst_Gateway::modelsCountTokensHeadAndUnknownRoutes()
{
    m_sim = std::make_unique<Simulator>();
    QVERIFY(m_sim->listen());
    EndpointConfig a = EndpointConfig::fromUrl(m_sim->chatUrl(), 0);
    a.name = QStringLiteral("a");
    a.model = QStringLiteral("gpt-test");
    EndpointConfig b = EndpointConfig::fromUrl(m_sim->messagesUrl(), 1);
    b.name = QStringLiteral("b");
    b.model = QStringLiteral("claude-test");
    EndpointConfig c = EndpointConfig::fromUrl(m_sim->chatUrl(), 2);
    c.name = QStringLiteral("c");
    c.model = QStringLiteral("gpt-test"); // listed once
    ProjectConfig project;
    project.endpoints = {a, b, c};
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{});
    QVERIFY(bool(m_gateway->start()));
    Caller &openaiModels = call(httpRequest("GET", "/v1/models"));
    Caller &anthropicModels =
        call(httpRequest("GET", "/v1/models", {}, {{"anthropic-version", "2023-06-01"}}));
    Caller &one = call(httpRequest("GET", "/v1/models/claude-test"));
    Caller &missing = call(httpRequest("GET", "/v1/models/nope"));
    const json countBody = {
        {"model", "claude-test"},
        {"system", "You are terse."},
        {"messages", json::array({{{"role", "user"}, {"content", std::string(400, 'x')}}})}};
    Caller &count =
        call(httpRequest("POST", "/v1/messages/count_tokens", QByteArray::fromStdString(countBody.dump())));
    Caller &head = call(httpRequest("HEAD", "/health"));
    QTRY_COMPARE_WITH_TIMEOUT(openaiModels.responses + anthropicModels.responses + one.responses +
                                  missing.responses + count.responses + head.responses,
                              6, 5000);
    QCOMPARE(openaiModels.status, 200);
    const json o = openaiModels.bodyJson();
    QCOMPARE(o.value("object", std::string()), std::string("list"));
    QCOMPARE(o["data"].size(), std::size_t(2));
    QCOMPARE(o["data"][0].value("id", std::string()), std::string("gpt-test"));
    QCOMPARE(o["data"][0].value("object", std::string()), std::string("model"));
    QCOMPARE(o["data"][1].value("id", std::string()), std::string("claude-test"));
    const json an = anthropicModels.bodyJson();
    QCOMPARE(an["data"].size(), std::size_t(2));
    QCOMPARE(an["data"][1].value("type", std::string()), std::string("model"));
    QCOMPARE(an.value("has_more", true), false);
    QCOMPARE(an.value("last_id", std::string()), std::string("claude-test"));
    QCOMPARE(one.status, 200);
    QCOMPARE(one.bodyJson().value("id", std::string()), std::string("claude-test"));
    QCOMPARE(missing.status, 404);
    QCOMPARE(count.status, 200);
    // About 4 bytes a token: 414 bytes of text and one message.
    const int tokens = count.bodyJson().value("input_tokens", 0);
    QVERIFY2(tokens >= 100 && tokens <= 120, qPrintable(QString::number(tokens)));
    QCOMPARE(head.status, 200);
    QVERIFY(head.body.isEmpty());
    QCOMPARE(m_sim->stats().requests, qint64(0)); // none of these went upstream
}

void tst_Gateway::retryHeadersAreTheUpstreams()
{
    m_sim = std::make_unique<Simulator>();
    QVERIFY(m_sim->listen());
    EndpointConfig e = EndpointConfig::fromUrl(m_sim->chatUrl(), 0);
    e.name = QStringLiteral("sim");
    ProjectConfig project;
    project.endpoints = {e};
    project.limits.retry.maxAttempts = 2;
    project.limits.retry.baseDelayMs = 10;
    project.limits.retry.maxDelayMs = 20;
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{});
    QVERIFY(bool(m_gateway->start()));
    Caller &server = call(
        httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("always @sim(status=500)"))));
    QTRY_COMPARE_WITH_TIMEOUT(server.responses, 1, 10000);
    QCOMPARE(server.status, 500);
    QCOMPARE(server.header("X-Sluice-Attempts"), QByteArray("2"));
    // The gateway spent its attempts: an SDK must not add its own on top.
    QCOMPARE(server.header("x-should-retry"), QByteArray("false"));
    QCOMPARE(m_sim->stats().requests, qint64(2));

    // A 429 asking for 2.5 s (retry-after-ms wins over Retry-After: 3): retried once after that wait, then
    // the caller is told the upstream's wait, not the gateway's own estimate (1 s).
    Caller &limited =
        call(httpRequest("POST", "/v1/messages",
                         messagesBody(QStringLiteral("@sim(status=429,retry_after=3,retry_after_ms=2500)"))));
    QTRY_COMPARE_WITH_TIMEOUT(limited.responses, 1, 10000);
    QCOMPARE(limited.status, 429);
    QCOMPARE(limited.header("retry-after-ms"), QByteArray("2500"));
    QCOMPARE(limited.header("Retry-After"), QByteArray("3"));
    QCOMPARE(limited.header("x-should-retry"), QByteArray("false"));
    QCOMPARE(limited.header("X-Sluice-Attempts"), QByteArray("2"));
    QCOMPARE(limited.bodyJson().value("type", std::string()), std::string("error"));
}

void tst_Gateway::requestIdsAndDialectHeadersPassThrough()
{
    const QList<QPair<QByteArray, QByteArray>> dialectHeaders = {{"anthropic-beta", "tools-2024-05-16"},
                                                                 {"OpenAI-Organization", "org-1"},
                                                                 {"OpenAI-Project", "proj-1"}};
    // An OpenAI endpoint: gets the OpenAI headers only; its x-request-id reaches the caller.
    ScriptedUpstream openai({{200,
                              R"({"id":"c1","object":"chat.completion","model":"m","choices":[{"index":0,)"
                              R"("message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],)"
                              R"("usage":{"prompt_tokens":1,"completion_tokens":1}})",
                              {{"x-request-id", "req_openai_1"}}}});
    // An Anthropic endpoint: gets anthropic-beta only; fails once with a request-id and retry-after.
    ScriptedUpstream anthropic({{529,
                                 R"({"type":"error","error":{"type":"overloaded_error","message":"busy"}})",
                                 {{"request-id", "req_anthropic_err"}, {"retry-after", "7"}}}});
    ProjectConfig project;
    EndpointConfig a = EndpointConfig::fromUrl(openai.url(QStringLiteral("/v1/chat/completions")), 0);
    a.name = QStringLiteral("oa");
    EndpointConfig b = EndpointConfig::fromUrl(anthropic.url(QStringLiteral("/v1/messages")), 1);
    b.name = QStringLiteral("an");
    b.weight = 0; // first the OpenAI endpoint alone
    project.endpoints = {a, b};
    project.limits.retry.maxAttempts = 1;
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{});
    QVERIFY(bool(m_gateway->start()));
    Caller &first =
        call(httpRequest("POST", "/v1/messages", messagesBody(QStringLiteral("one")), dialectHeaders));
    QTRY_COMPARE_WITH_TIMEOUT(first.responses, 1, 5000);
    QCOMPARE(first.status, 200);
    QCOMPARE(first.header("request-id"), QByteArray("req_openai_1")); // what the Anthropic SDK reads
    QCOMPARE(first.header("x-request-id"), QByteArray("req_openai_1"));
    QCOMPARE(anthropicText(first.bodyJson()), QStringLiteral("hi"));
    QCOMPARE(openai.received.size(), qsizetype(1));
    QCOMPARE(openai.received[0].value("openai-organization"), QByteArray("org-1"));
    QCOMPARE(openai.received[0].value("openai-project"), QByteArray("proj-1"));
    QVERIFY(!openai.received[0].contains("anthropic-beta"));

    m_gateway->engine().setEndpointWeight(0, 0);
    m_gateway->engine().setEndpointWeight(1, 1);
    Caller &second =
        call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("two")), dialectHeaders));
    QTRY_COMPARE_WITH_TIMEOUT(second.responses, 1, 5000);
    QCOMPARE(second.status, 529);
    QCOMPARE(second.header("x-request-id"), QByteArray("req_anthropic_err"));
    QCOMPARE(second.header("Retry-After"), QByteArray("7"));
    QCOMPARE(second.header("x-should-retry"), QByteArray("false"));
    QCOMPARE(second.header("X-Sluice-Error-Class"), QByteArray("overloaded"));
    // In the OpenAI caller's shape.
    QCOMPARE(second.bodyJson()["error"].value("message", std::string()), std::string("busy"));
    QCOMPARE(anthropic.received.size(), qsizetype(1));
    QCOMPARE(anthropic.received[0].value("anthropic-beta"), QByteArray("tools-2024-05-16"));
    QVERIFY(!anthropic.received[0].contains("openai-organization"));
    QVERIFY(!anthropic.received[0].contains("openai-project"));
}

void tst_Gateway::healthIsUnavailableWhenNoEndpointServes()
{
    // A port nothing listens on: every attempt is refused, the endpoint is ejected as unreachable.
    quint16 closedPort = 0;
    {
        QTcpServer probe;
        QVERIFY(probe.listen(QHostAddress::LocalHost, 0));
        closedPort = probe.serverPort();
    }
    m_sim = std::make_unique<Simulator>();
    QVERIFY(m_sim->listen());
    EndpointConfig dead = EndpointConfig::fromUrl(
        QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(closedPort)), 0);
    dead.name = QStringLiteral("dead");
    EndpointConfig alive = EndpointConfig::fromUrl(m_sim->chatUrl(), 1);
    alive.name = QStringLiteral("alive");
    alive.weight = 0; // off until the second half
    ProjectConfig project;
    project.endpoints = {dead, alive};
    project.limits.retry.maxAttempts = 1;
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{});
    QVERIFY(bool(m_gateway->start()));
    for (int i = 0; i < EndpointLimiter::FailuresToEject + 1; ++i) {
        Caller &c = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("d%1").arg(i))));
        QTRY_COMPARE_WITH_TIMEOUT(c.responses, 1, 5000);
    }
    QTRY_VERIFY_WITH_TIMEOUT(m_gateway->snapshot().endpoints.at(0).state == EndpointState::Unreachable, 5000);
    Caller &down = call(httpRequest("GET", "/health"));
    QTRY_COMPARE_WITH_TIMEOUT(down.responses, 1, 5000);
    QCOMPARE(down.status, 503);
    QCOMPARE(down.bodyJson().value("status", std::string()), std::string("unavailable"));
    QCOMPARE(down.bodyJson()["endpoints"][0].value("usable", true), false);

    m_gateway->engine().setEndpointWeight(1, 1);
    Caller &degraded = call(httpRequest("GET", "/health"));
    QTRY_COMPARE_WITH_TIMEOUT(degraded.responses, 1, 5000);
    QCOMPARE(degraded.status, 200);
    QCOMPARE(degraded.bodyJson().value("status", std::string()), std::string("degraded"));
}

void tst_Gateway::stopAnswersEveryCallerInItsDialect()
{
    startGateway({}, 60); // one request a second: the rest wait behind the limit
    constexpr int Callers = 10;
    for (int i = 0; i < Callers; ++i) {
        call(i % 2 ? httpRequest("POST", "/v1/messages", messagesBody(QStringLiteral("s%1").arg(i)))
                   : httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("s%1").arg(i))));
    }
    QTRY_COMPARE_WITH_TIMEOUT(m_gateway->counters().accepted, qint64(Callers), 5000);
    QSignalSpy stopped(m_gateway.get(), &Gateway::stopped);
    m_gateway->stop();
    QVERIFY(stopped.wait(15000));
    std::vector<std::size_t> all(Callers);
    std::iota(all.begin(), all.end(), 0);
    QVERIFY(waitForResponses(all, 5000));
    int refused = 0;
    for (int i = 0; i < Callers; ++i) {
        const Caller &c = *m_callers[std::size_t(i)];
        QCOMPARE(c.responses, 1);
        if (c.status == 200) {
            continue;
        }
        ++refused;
        QCOMPARE(c.status, 503);
        QVERIFY2(c.header("Retry-After").toInt() >= 1, c.body.constData());
        QCOMPARE(c.header("X-Sluice-Error-Class"), QByteArray("stopping"));
        const json body = c.bodyJson();
        if (i % 2) {
            QCOMPARE(body.value("type", std::string()), std::string("error"));
            QCOMPARE(body["error"].value("type", std::string()), std::string("overloaded_error"));
        } else {
            QVERIFY2(body.contains("error") && body["error"].contains("code"), c.body.constData());
        }
    }
    QVERIFY2(refused >= Callers - 3, qPrintable(QString::number(refused)));
    QCOMPARE(m_gateway->counters().waiting, qint64(0));
}

void tst_Gateway::cliSigtermAnswersCallersWaitingBehindALimit()
{
    Simulator sim;
    QVERIFY(sim.listen());
    QProcess cli;
    cli.setProgram(QStringLiteral(SLUICE_CLI_PATH));
    cli.setArguments({QStringLiteral("serve"), QStringLiteral("--endpoint"), sim.chatUrl().toString(),
                      QStringLiteral("--port"), QStringLiteral("0"), QStringLiteral("--rps"),
                      QStringLiteral("1")});
    cli.start();
    QVERIFY(cli.waitForStarted());
    QByteArray err;
    const QRegularExpression listening(QStringLiteral("listening on http://127\\.0\\.0\\.1:(\\d+)"));
    QRegularExpressionMatch match;
    QTRY_VERIFY_WITH_TIMEOUT((err += cli.readAllStandardError(),
                              match = listening.match(QString::fromUtf8(err)), match.hasMatch()),
                             10000);
    const quint16 port = quint16(match.captured(1).toUInt());
    constexpr int Callers = 20;
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    std::vector<Caller> replies(Callers);
    for (int i = 0; i < Callers; ++i) {
        auto socket = std::make_unique<QTcpSocket>();
        socket->connectToHost(QHostAddress::LocalHost, port);
        QVERIFY(socket->waitForConnected(5000));
        socket->write(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("w%1").arg(i))));
        QVERIFY(socket->waitForBytesWritten(5000));
        sockets.push_back(std::move(socket));
    }
    QTest::qWait(500); // all accepted; most wait behind the 1 req/s limit
    cli.terminate();
    QVERIFY(cli.waitForFinished(15000));
    QCOMPARE(cli.exitCode(), 0);
    int refused = 0;
    for (int i = 0; i < Callers; ++i) {
        Caller &r = replies[std::size_t(i)];
        QTcpSocket &socket = *sockets[std::size_t(i)];
        do {
            r.buffer += socket.readAll();
            r.consume();
        } while (r.responses == 0 && socket.waitForReadyRead(2000));
        QVERIFY2(
            r.responses == 1,
            qPrintable(QStringLiteral("caller %1: no answer (%2)").arg(i).arg(QString::fromUtf8(r.buffer))));
        if (r.status == 503) {
            ++refused;
            QVERIFY(r.header("Retry-After").toInt() >= 1);
        } else {
            QCOMPARE(r.status, 200);
        }
    }
    QVERIFY2(refused >= Callers - 5, qPrintable(QString::number(refused)));
}

void tst_Gateway::gaugesAndDeadlinesFollowTheInjectedClock()
{
    m_clock = std::make_unique<Test::ManualClock>();
    Test::ManualClock &clock = *m_clock;
    m_sim = std::make_unique<Simulator>();
    QVERIFY(m_sim->listen());
    EndpointConfig e = EndpointConfig::fromUrl(m_sim->chatUrl(), 0);
    e.name = QStringLiteral("sim");
    ProjectConfig project;
    project.endpoints = {e};
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{}, &clock);
    QVERIFY(bool(m_gateway->start()));
    for (int i = 0; i < 3; ++i) {
        call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("g%1").arg(i))));
    }
    QVERIFY(waitForResponses({0, 1, 2}));
    const auto finishedPerSecond = [this] {
        Caller &status = call(httpRequest("GET", "/status"));
        Caller &metrics = call(httpRequest("GET", "/metrics"));
        if (!QTest::qWaitFor(
                [&] {
                    m_clock->settle();
                    return status.responses + metrics.responses == 2;
                },
                5000)) {
            return std::make_pair(-1.0, QByteArray());
        }
        const QRegularExpression gauge(QStringLiteral("\\nsluice_finished_per_second (\\S+)\\n"));
        return std::make_pair(status.bodyJson().value("finished_per_s", -1.0),
                              gauge.match(QString::fromUtf8(metrics.body)).captured(1).toUtf8());
    };
    clock.advance(1500); // the second they finished in is whole now
    QCOMPARE(finishedPerSecond(), std::make_pair(3.0, QByteArray("3")));
    clock.advance(1000); // a whole second without any: the gauge says 0 (it used to keep 3)
    QCOMPARE(finishedPerSecond(), std::make_pair(0.0, QByteArray("0")));
    clock.advance(600000);
    QCOMPARE(finishedPerSecond(), std::make_pair(0.0, QByteArray("0")));

    // A caller's deadline is on the same clock: 5 s of it, however long the wall clock takes.
    m_gateway->engine().setEndpointWeight(0, 0);
    Caller &late = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("late")),
                                    {{"X-Sluice-Timeout", "5"}}));
    QVERIFY(QTest::qWaitFor(
        [&] {
            clock.settle();
            return m_gateway->counters().accepted == 4;
        },
        5000));
    clock.advance(4900);
    m_gateway->expireDeadlines();
    QTest::qWait(50);
    QCOMPARE(late.responses, 0);
    clock.advance(200);
    m_gateway->expireDeadlines();
    QTRY_COMPARE_WITH_TIMEOUT(late.responses, 1, 5000);
    QCOMPARE(late.status, 504);
    QVERIFY(late.body.contains("after 5.1 s in the queue"));
}

void tst_Gateway::callerKeysAndTheirLimits()
{
    const QByteArray teamKey = "sk-team-a-0123456789";
    const QByteArray ciKey = "sk-ci-9876543210";
    qputenv("SLUICE_TST_GATEWAY_CI_KEY", ciKey);
    m_sim = std::make_unique<Simulator>();
    QVERIFY(m_sim->listen());
    EndpointConfig e = EndpointConfig::fromUrl(m_sim->chatUrl(), 0);
    e.name = QStringLiteral("sim");
    ProjectConfig project;
    project.endpoints = {e};
    GatewayKeyConfig team;
    team.name = QStringLiteral("team-a");
    team.sha256 = QString::fromLatin1(QCryptographicHash::hash(teamKey, QCryptographicHash::Sha256).toHex());
    team.rpm = 6; // one now, the next in 10 s
    GatewayKeyConfig ci;
    ci.name = QStringLiteral("ci");
    ci.keyEnv = QStringLiteral("SLUICE_TST_GATEWAY_CI_KEY");
    project.gateway.keys = {team, ci};
    QVERIFY(bool(project.validate(QStringLiteral("t"))));
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{});
    QVERIFY(bool(m_gateway->start()));
    Caller &none = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("k0"))));
    Caller &wrong = call(httpRequest("POST", "/v1/messages", messagesBody(QStringLiteral("k1")),
                                     {{"x-api-key", "sk-not-a-gateway-key"}}));
    Caller &teamOk = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("k2")),
                                      {{"Authorization", "Bearer " + teamKey}}));
    QTRY_COMPARE_WITH_TIMEOUT(none.responses + wrong.responses + teamOk.responses, 3, 5000);
    Caller &teamOver = call(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("k3")),
                                        {{"Authorization", "Bearer " + teamKey}}));
    Caller &ciOk =
        call(httpRequest("POST", "/v1/messages", messagesBody(QStringLiteral("k4")), {{"x-api-key", ciKey}}));
    Caller &models = call(httpRequest("GET", "/v1/models"));
    QTRY_COMPARE_WITH_TIMEOUT(teamOver.responses + ciOk.responses + models.responses, 3, 5000);
    QCOMPARE(none.status, 401);
    QVERIFY(none.bodyJson()["error"].contains("code")); // OpenAI shape
    QCOMPARE(none.header("X-Sluice-Error-Class"), QByteArray("unauthorized"));
    QCOMPARE(wrong.status, 401);
    QCOMPARE(wrong.bodyJson()["error"].value("type", std::string()), std::string("authentication_error"));
    QCOMPARE(wrong.bodyJson().value("type", std::string()), std::string("error")); // Anthropic shape
    QCOMPARE(teamOk.status, 200);
    QCOMPARE(teamOver.status, 429);
    QCOMPARE(teamOver.header("X-Sluice-Error-Class"), QByteArray("key_rate_limited"));
    QVERIFY(teamOver.header("Retry-After").toInt() >= 9);
    QCOMPARE(ciOk.status, 200);
    QCOMPARE(models.status, 401);
    QCOMPARE(m_sim->stats().requests, qint64(2)); // only the two admitted calls went upstream

    Caller &metrics = call(httpRequest("GET", "/metrics"));
    QTRY_COMPARE_WITH_TIMEOUT(metrics.responses, 1, 5000);
    QVERIFY(
        metrics.body.contains("sluice_gateway_key_requests_total{key=\"team-a\",result=\"admitted\"} 1\n"));
    QVERIFY(metrics.body.contains(
        "sluice_gateway_key_requests_total{key=\"team-a\",result=\"rate_limited\"} 1\n"));
    QVERIFY(metrics.body.contains("sluice_gateway_key_requests_total{key=\"ci\",result=\"admitted\"} 1\n"));
    QVERIFY(metrics.body.contains("sluice_gateway_auth_failures_total{reason=\"missing\"} 2\n"));
    QVERIFY(metrics.body.contains("sluice_gateway_auth_failures_total{reason=\"unknown\"} 1\n"));
    for (const Caller *c : {&none, &wrong, &teamOk, &teamOver, &ciOk, &metrics}) {
        QVERIFY(!c->body.contains(teamKey) && !c->body.contains(ciKey));
    }
    qunsetenv("SLUICE_TST_GATEWAY_CI_KEY");
}

void tst_Gateway::tlsServesHttps()
{
    m_sim = std::make_unique<Simulator>();
    QVERIFY(m_sim->listen());
    EndpointConfig e = EndpointConfig::fromUrl(m_sim->chatUrl(), 0);
    e.name = QStringLiteral("sim");
    ProjectConfig project;
    project.endpoints = {e};
    GatewayOptions options;
    options.tlsCertPath = QStringLiteral(SLUICE_TEST_DATA "/sim-tls.crt");
    options.tlsKeyPath = QStringLiteral(SLUICE_TEST_DATA "/sim-tls.key");
    m_gateway = std::make_unique<Gateway>(project, options);
    const auto port = m_gateway->start();
    QVERIFY2(bool(port), port ? "" : qPrintable(port.error().message));
    QSslSocket socket;
    QSslConfiguration tls = socket.sslConfiguration();
    tls.setCaCertificates(QSslCertificate::fromPath(QStringLiteral(SLUICE_TEST_DATA "/sim-tls.crt")));
    socket.setSslConfiguration(tls);
    socket.connectToHostEncrypted(QStringLiteral("127.0.0.1"), *port);
    // The gateway shares this thread: wait in the event loop, never in a blocking call.
    QTRY_VERIFY2_WITH_TIMEOUT(socket.isEncrypted(), qPrintable(socket.errorString()), 10000);
    socket.write(httpRequest("POST", "/v1/chat/completions", chatBody(QStringLiteral("over tls"))));
    Caller reply;
    QTRY_VERIFY_WITH_TIMEOUT((reply.buffer += socket.readAll(), reply.consume(), reply.responses == 1),
                             10000);
    QCOMPARE(reply.status, 200);
    QCOMPARE(replyText(reply.bodyJson()), QStringLiteral("Simulated reply to: over tls"));
    // Plain HTTP to the TLS port gets nothing useful.
    QTcpSocket plain;
    plain.connectToHost(QHostAddress::LocalHost, *port);
    QVERIFY(plain.waitForConnected(5000));
    plain.write(httpRequest("GET", "/health"));
    QTest::qWait(500);
    QVERIFY(!plain.readAll().startsWith("HTTP/1.1 200"));
}

void tst_Gateway::startStreaming(const SimulatorConfig &config, Provider dialect)
{
    m_sim = std::make_unique<Simulator>(config);
    m_sim->setRecording(true);
    QVERIFY(m_sim->listen());
    EndpointConfig e =
        EndpointConfig::fromUrl(dialect == Provider::Anthropic ? m_sim->messagesUrl() : m_sim->chatUrl(), 0);
    e.name = QStringLiteral("sim");
    e.timeoutS = 10;
    QVERIFY(e.provider == dialect);
    ProjectConfig project;
    project.endpoints = {e};
    project.limits.retry.baseDelayMs = 20;
    project.limits.retry.maxDelayMs = 20;
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{});
    const auto port = m_gateway->start();
    QVERIFY2(bool(port), port ? "" : qPrintable(port.error().message));
}

QByteArray tst_Gateway::metricsText()
{
    Caller &metrics = call(httpRequest("GET", "/metrics"));
    if (!QTest::qWaitFor([&] { return metrics.responses > 0; }, 5000)) {
        return QByteArray();
    }
    return metrics.body;
}

void tst_Gateway::openAiStreamArrivesAsTheUpstreamSendsIt()
{
    // 8 content chunks 100 ms apart: the stream takes 0.8 s upstream.
    SimulatorConfig config;
    config.firstTokenMs = 100;
    config.chunkIntervalMs = 100;
    config.chunksPerReply = 8;
    startStreaming(config, Provider::OpenAI);
    const QString prompt = QStringLiteral("a stream in eight pieces");
    const QString expected = QStringLiteral("Simulated reply to: ") + prompt;
    Caller &withUsage = call(httpRequest("POST", "/v1/chat/completions", streamChatBody(prompt, true)));
    Caller &without = call(httpRequest("POST", "/v1/chat/completions", streamChatBody(prompt, false)));
    QVERIFY(waitForResponses({0, 1}, 10000));
    // The gateway's ends of the callers' connections send each event at once (no Nagle delay).
    const QList<QTcpSocket *> accepted = m_gateway->findChildren<QTcpSocket *>();
    QVERIFY(accepted.size() >= 2);
    for (QTcpSocket *socket : accepted) {
        int noDelay = 0;
        socklen_t size = sizeof noDelay;
        QCOMPARE(::getsockopt(int(socket->socketDescriptor()), IPPROTO_TCP, TCP_NODELAY, &noDelay, &size), 0);
        QCOMPARE(noDelay, 1);
    }

    for (Caller *c : {&withUsage, &without}) {
        QCOMPARE(c->status, 200);
        QVERIFY(c->header("Content-Type").startsWith("text/event-stream"));
        QCOMPARE(c->header("Transfer-Encoding").toLower(), QByteArray("chunked"));
        QCOMPARE(c->header("X-Sluice-Endpoint"), QByteArray("sim"));
        // Flushed as it came: the first event reached the caller well before the stream's end.
        QVERIFY2(c->firstEventMs >= 0 && c->completeMs - c->firstEventMs >= 400,
                 qPrintable(QStringLiteral("first event at %1 ms, end at %2 ms")
                                .arg(c->firstEventMs)
                                .arg(c->completeMs)));
        const QList<SseEvent> events = sseEvents(c->body);
        QVERIFY(events.size() >= 10);
        QCOMPARE(events.last().data, QByteArray("[DONE]"));
        int chunks = 0;
        QCOMPARE(openAiStreamText(events, &chunks), expected);
        QCOMPARE(chunks, 8);
        json first = events.first().dataJson();
        QCOMPARE(first.value("object", std::string()), std::string("chat.completion.chunk"));
        QCOMPARE(first["choices"][0]["delta"].value("role", std::string()), std::string("assistant"));
        QString finish;
        for (const SseEvent &e : events.mid(0, events.size() - 1)) {
            json chunk = e.dataJson();
            QVERIFY2(chunk.is_object() && !chunk.contains("error"), e.data.constData());
            if (!chunk["choices"].empty() && chunk["choices"][0]["finish_reason"].is_string()) {
                finish = QString::fromStdString(chunk["choices"][0]["finish_reason"].get<std::string>());
            }
        }
        QCOMPARE(finish, QStringLiteral("stop"));
    }
    // The usage chunk (empty choices) for the caller that asked, and only for it.
    const QList<SseEvent> events = sseEvents(withUsage.body);
    json usage = events.at(events.size() - 2).dataJson();
    QVERIFY2(usage["choices"].empty() && usage["usage"].value("completion_tokens", 0) == expected.size() / 4,
             events.at(events.size() - 2).data.constData());
    QVERIFY(usage["usage"].value("prompt_tokens", 0) > 0);
    for (const SseEvent &e : sseEvents(without.body)) {
        json chunk = e.dataJson();
        QVERIFY2(!chunk.is_object() || !chunk.contains("usage") || chunk["usage"].is_null(),
                 e.data.constData());
    }

    QCOMPARE(m_sim->received().size(), qsizetype(2));
    const QByteArray metrics = metricsText();
    QCOMPARE(sampleOf(metrics, "sluice_gateway_streams_active"), 0.0);
    QCOMPARE(sampleOf(metrics, "sluice_gateway_streams_total{result=\"completed\"}"), 2.0);
    QCOMPARE(sampleOf(metrics, "sluice_gateway_streams_total{result=\"failed\"}"), 0.0);
    QCOMPARE(sampleOf(metrics, "sluice_endpoint_ttft_seconds_count{endpoint=\"sim\"}"), 2.0);
}

void tst_Gateway::anthropicStreamPassesThrough()
{
    SimulatorConfig config;
    config.chunkIntervalMs = 20;
    config.chunksPerReply = 6;
    startStreaming(config, Provider::Anthropic);
    const QString prompt = QStringLiteral("an anthropic stream");
    Caller &c = call(httpRequest("POST", "/v1/messages", streamMessagesBody(prompt),
                                 {{"anthropic-version", "2023-06-01"}}));
    QVERIFY(waitForResponses({0}, 10000));
    QCOMPARE(c.status, 200);
    QVERIFY(c.header("Content-Type").startsWith("text/event-stream"));
    const QList<SseEvent> events = sseEvents(c.body);
    QList<QByteArray> names;
    for (const SseEvent &e : events) {
        // Every event is named after its data's type; no OpenAI [DONE] here.
        QCOMPARE(QByteArray::fromStdString(e.dataJson().value("type", std::string())), e.name);
        if (names.isEmpty() || names.last() != e.name) {
            names.append(e.name);
        }
    }
    QCOMPARE(names, (QList<QByteArray>{"message_start", "content_block_start", "ping", "content_block_delta",
                                       "content_block_stop", "message_delta", "message_stop"}));
    int chunks = 0;
    QCOMPARE(anthropicStreamText(events, &chunks), QStringLiteral("Simulated reply to: ") + prompt);
    QCOMPARE(chunks, 6);
    QVERIFY(events.first().dataJson()["message"]["usage"].value("input_tokens", 0) > 0);
    json delta = events.at(events.size() - 2).dataJson();
    QCOMPARE(delta["delta"].value("stop_reason", std::string()), std::string("end_turn"));
    QVERIFY(delta["usage"].value("output_tokens", 0) > 0);
    QCOMPARE(m_sim->received().size(), qsizetype(1));
}

void tst_Gateway::streamsAreTranslatedAcrossDialects_data()
{
    QTest::addColumn<bool>("anthropicCaller");
    QTest::newRow("anthropic caller, openai endpoint") << true;
    QTest::newRow("openai caller, anthropic endpoint") << false;
}

void tst_Gateway::streamsAreTranslatedAcrossDialects()
{
    QFETCH(bool, anthropicCaller);
    SimulatorConfig config;
    config.chunkIntervalMs = 20;
    config.chunksPerReply = 5;
    startStreaming(config, anthropicCaller ? Provider::OpenAI : Provider::Anthropic);
    const QString prompt = QStringLiteral("across the dialects");
    const QString expected = QStringLiteral("Simulated reply to: ") + prompt;
    Caller &c = anthropicCaller ? call(httpRequest("POST", "/v1/messages", streamMessagesBody(prompt)))
                                : call(httpRequest("POST", "/v1/chat/completions", streamChatBody(prompt)));
    QVERIFY(waitForResponses({0}, 10000));
    QCOMPARE(c.status, 200);
    QVERIFY(c.header("Content-Type").startsWith("text/event-stream"));
    const QList<SseEvent> events = sseEvents(c.body);
    QVERIFY(!events.isEmpty());
    int chunks = 0;
    if (anthropicCaller) {
        QCOMPARE(events.first().name, QByteArray("message_start"));
        QCOMPARE(events.last().name, QByteArray("message_stop"));
        QCOMPARE(anthropicStreamText(events, &chunks), expected);
        bool stopped = false;
        for (const SseEvent &e : events) {
            QVERIFY2(!e.name.isEmpty() && e.data != "[DONE]", e.data.constData());
            if (e.name == "message_delta") {
                json delta = e.dataJson();
                QCOMPARE(delta["delta"].value("stop_reason", std::string()), std::string("end_turn"));
                QVERIFY(delta["usage"].value("output_tokens", 0) > 0);
                stopped = true;
            }
        }
        QVERIFY(stopped);
    } else {
        QCOMPARE(events.last().data, QByteArray("[DONE]"));
        QCOMPARE(openAiStreamText(events, &chunks), expected);
        bool usage = false;
        QString finish;
        for (const SseEvent &e : events.mid(0, events.size() - 1)) {
            QVERIFY2(e.name.isEmpty(), e.name.constData()); // OpenAI events are unnamed
            json chunk = e.dataJson();
            QCOMPARE(chunk.value("object", std::string()), std::string("chat.completion.chunk"));
            if (chunk["choices"].empty() && chunk["usage"].is_object()) {
                usage = chunk["usage"].value("completion_tokens", 0) > 0 &&
                        chunk["usage"].value("prompt_tokens", 0) > 0;
            } else if (chunk["choices"][0]["finish_reason"].is_string()) {
                finish = QString::fromStdString(chunk["choices"][0]["finish_reason"].get<std::string>());
            }
        }
        QVERIFY(usage);
        QCOMPARE(finish, QStringLiteral("stop"));
    }
    QVERIFY2(chunks == 5, c.body.constData());
    QCOMPARE(m_sim->received().size(), qsizetype(1));
}

void tst_Gateway::streamIsRetriedOnlyBeforeItsFirstByte_data()
{
    QTest::addColumn<QString>("directive");
    QTest::newRow("500 once") << QStringLiteral("@sim(status=500,times=1)");
    // Cut 200 ms after the head and the opening events (the role chunk), before any content: the
    // gateway holds those back, so the caller has had nothing yet.
    QTest::newRow("cut before the first chunk once") << QStringLiteral("@sim(cut_after=0,times=1)");
}

void tst_Gateway::streamIsRetriedOnlyBeforeItsFirstByte()
{
    QFETCH(QString, directive);
    SimulatorConfig config;
    config.firstTokenMs = 200;
    config.chunkIntervalMs = 20;
    config.chunksPerReply = 5;
    startStreaming(config, Provider::OpenAI);
    const QString prompt = QStringLiteral("retry me ") + directive;
    Caller &c = call(httpRequest("POST", "/v1/chat/completions", streamChatBody(prompt)));
    QVERIFY(waitForResponses({0}, 10000));
    QTest::qWait(200); // a second answer would arrive by now
    QCOMPARE(c.responses, 1);
    QCOMPARE(c.status, 200);
    QVERIFY(c.header("Content-Type").startsWith("text/event-stream"));
    QVERIFY2(!c.body.contains("\"error\""), c.body.constData());
    const QList<SseEvent> events = sseEvents(c.body);
    QCOMPARE(events.last().data, QByteArray("[DONE]"));
    // One whole stream: one role chunk, the text once.
    int roles = 0;
    for (const SseEvent &e : events) {
        json chunk = e.dataJson();
        roles +=
            chunk.is_object() && !chunk["choices"].empty() && chunk["choices"][0]["delta"].contains("role");
    }
    QCOMPARE(roles, 1);
    QCOMPARE(openAiStreamText(events), QStringLiteral("Simulated reply to: ") + prompt.left(60));
    QCOMPARE(m_sim->received().size(), qsizetype(2)); // the failed attempt and the retry
    const QByteArray metrics = metricsText();
    QCOMPARE(sampleOf(metrics, "sluice_gateway_streams_total{result=\"completed\"}"), 1.0);
    QCOMPARE(sampleOf(metrics, "sluice_gateway_streams_total{result=\"failed\"}"), 0.0);
}

void tst_Gateway::streamFailingAfterItsFirstByteEndsWithAnErrorEvent_data()
{
    QTest::addColumn<bool>("anthropic");
    QTest::addColumn<QString>("directive");
    QTest::newRow("openai, cut") << false << QStringLiteral("@sim(cut_after=3)");
    QTest::newRow("openai, error event") << false << QStringLiteral("@sim(error_after=3)");
    QTest::newRow("anthropic, cut") << true << QStringLiteral("@sim(cut_after=3)");
    QTest::newRow("anthropic, error event") << true << QStringLiteral("@sim(error_after=3)");
}

void tst_Gateway::streamFailingAfterItsFirstByteEndsWithAnErrorEvent()
{
    QFETCH(bool, anthropic);
    QFETCH(QString, directive);
    SimulatorConfig config;
    config.chunkIntervalMs = 50;
    config.chunksPerReply = 10;
    startStreaming(config, anthropic ? Provider::Anthropic : Provider::OpenAI);
    // The directive applies to every attempt: a retry would fail again, and show as a second send.
    const QString prompt = QStringLiteral("fail me ") + directive;
    Caller &c = anthropic ? call(httpRequest("POST", "/v1/messages", streamMessagesBody(prompt)))
                          : call(httpRequest("POST", "/v1/chat/completions", streamChatBody(prompt)));
    QVERIFY(waitForResponses({0}, 10000));
    QCOMPARE(c.status, 200); // the head had gone with the first events
    QVERIFY(c.header("Content-Type").startsWith("text/event-stream"));
    const QList<SseEvent> events = sseEvents(c.body);
    QVERIFY(!events.isEmpty());
    int chunks = 0;
    const SseEvent &last = events.last();
    json error = last.dataJson();
    if (anthropic) {
        anthropicStreamText(events, &chunks);
        QCOMPARE(last.name, QByteArray("error"));
        QCOMPARE(error.value("type", std::string()), std::string("error"));
        QVERIFY2(error["error"].value("type", std::string()) != "" &&
                     !error["error"].value("message", std::string()).empty(),
                 last.data.constData());
        for (const SseEvent &e : events) {
            QVERIFY2(e.name != "message_stop" && e.name != "message_delta", e.data.constData());
        }
    } else {
        openAiStreamText(events, &chunks);
        QVERIFY2(last.name.isEmpty() && error.is_object() && error["error"].is_object() &&
                     !error["error"].value("message", std::string()).empty(),
                 last.data.constData());
        for (const SseEvent &e : events) {
            QVERIFY2(e.data != "[DONE]", c.body.constData());
        }
    }
    QCOMPARE(chunks, 3); // what came before the failure
    QTest::qWait(300);   // a retry (20 ms of backoff) would have gone by now
    QCOMPARE(m_sim->received().size(), qsizetype(1));
    const QByteArray metrics = metricsText();
    QCOMPARE(sampleOf(metrics, "sluice_gateway_streams_active"), 0.0);
    QCOMPARE(sampleOf(metrics, "sluice_gateway_streams_total{result=\"failed\"}"), 1.0);
    QCOMPARE(sampleOf(metrics, "sluice_gateway_streams_total{result=\"completed\"}"), 0.0);
}

void tst_Gateway::callerLeavingMidStreamCancelsTheUpstream()
{
    // 40 chunks 50 ms apart: 2 s upstream when nobody stops it.
    SimulatorConfig config;
    config.chunkIntervalMs = 50;
    config.chunksPerReply = 40;
    startStreaming(config, Provider::OpenAI);
    Caller &c =
        call(httpRequest("POST", "/v1/chat/completions", streamChatBody(QStringLiteral("leave early"))));
    QTRY_VERIFY_WITH_TIMEOUT(c.firstEventMs >= 0, 5000);
    QCOMPARE(m_gateway->counters().streamsActive, qint64(1));
    QCOMPARE(m_sim->stats().streamsStarted, qint64(1));
    QElapsedTimer left;
    left.start();
    c.socket->abort();
    QTRY_COMPARE_WITH_TIMEOUT(m_gateway->counters().streamsActive, qint64(0), 1000);
    QCOMPARE(m_gateway->counters().streamsGone, qint64(1));
    // Long after the stream would have ended upstream, the simulator has not sent it to its end: the
    // gateway closed the upstream connection when the caller left.
    QTest::qWait(2500);
    const Simulator::Stats stats = m_sim->stats();
    QCOMPARE(stats.streamsStarted, qint64(1));
    QCOMPARE(stats.streamsCompleted, qint64(0));
    QCOMPARE(stats.streamsBroken, qint64(0));
    QCOMPARE(m_sim->received().size(), qsizetype(1)); // and nothing was sent again
    const QByteArray metrics = metricsText();
    QCOMPARE(sampleOf(metrics, "sluice_gateway_streams_active"), 0.0);
    QCOMPARE(sampleOf(metrics, "sluice_gateway_streams_total{result=\"gone\"}"), 1.0);
    QCOMPARE(sampleOf(metrics, "sluice_gateway_streams_total{result=\"completed\"}"), 0.0);
}

QTEST_GUILESS_MAIN(tst_Gateway)
#include "tst_gateway.moc"
