// The gateway in front of the real simulator over loopback HTTP, driven by raw TCP callers (QNAM would
// cap us at 6 connections per host). Nothing here is faked.

#include "gateway/gateway.h"
#include "sim/simulator.h"

#include <QElapsedTimer>
#include <QProcess>
#include <QRegularExpression>
#include <QSignalSpy>
#include <QTcpSocket>
#include <QTest>

#include <memory>
#include <numeric>
#include <sys/resource.h>

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
    QByteArray body;
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
            QList<QPair<QByteArray, QByteArray>> parsed;
            for (qsizetype i = 1; i < lines.size(); ++i) {
                const QByteArray line = lines.at(i).trimmed();
                const qsizetype colon = line.indexOf(':');
                if (colon > 0) {
                    parsed.append({line.left(colon).trimmed(), line.mid(colon + 1).trimmed()});
                    if (line.left(colon).trimmed().compare("content-length", Qt::CaseInsensitive) == 0) {
                        length = line.mid(colon + 1).trimmed().toLongLong();
                    }
                }
            }
            if (buffer.size() < end + 4 + length) {
                return;
            }
            const QList<QByteArray> statusLine = lines.first().split(' ');
            status = statusLine.value(1).toInt();
            headers = parsed;
            body = buffer.mid(end + 4, length);
            buffer.remove(0, end + 4 + length);
            ++responses;
        }
    }
};

QByteArray httpRequest(const QByteArray &method, const QByteArray &path,
                       const QByteArray &body = QByteArray(),
                       const QList<QPair<QByteArray, QByteArray>> &headers = {})
{
    QByteArray out = method + ' ' + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    for (const auto &[key, value] : headers) {
        out += key + ": " + value + "\r\n";
    }
    if (method == "POST") {
        out +=
            "Content-Type: application/json\r\nContent-Length: " + QByteArray::number(body.size()) + "\r\n";
    }
    return out + "\r\n" + body;
}

QByteArray chatBody(const QString &text)
{
    const json body = {{"messages", json::array({{{"role", "user"}, {"content", text.toStdString()}}})}};
    return QByteArray::fromStdString(body.dump());
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

private:
    /// Starts a simulator and a gateway with one endpoint on it.
    /// `simRps`: the simulator's own limit (429 above it, burst rps / 10); 0 = none.
    void startGateway(const GatewayOptions &options = {}, double rpm = 0, int maxInFlight = 64,
                      double simRps = 0);
    Caller &call(const QByteArray &request);
    /// Opens `count` connections and waits until all are connected.
    void connectCallers(int count);
    bool waitForResponses(const std::vector<std::size_t> &which, int timeoutMs = 20000);

    std::unique_ptr<Simulator> m_sim;
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
    Caller *c = caller.get();
    QObject::connect(c->socket.get(), &QTcpSocket::readyRead, c->socket.get(), [c] {
        c->buffer += c->socket->readAll();
        c->consume();
    });
    c->socket->connectToHost(QHostAddress::LocalHost, m_gateway->port());
    c->socket->write(request);
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
    QCOMPARE(stream.status, 400);
    QCOMPARE(priority.status, 400);
    QCOMPARE(m_sim->received().size(), qsizetype(1)); // only the first went upstream
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
    // The endpoint speaks OpenAI: the Messages body was translated; the legacy model was applied.
    QCOMPARE(replyText(messages.bodyJson()), QStringLiteral("Simulated reply to: hello anthropic"));
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
    QVERIFY(values.contains(QStringLiteral("sluice_latency_ms{quantile=\"0.99\"}")));
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

QTEST_GUILESS_MAIN(tst_Gateway)
#include "tst_gateway.moc"
