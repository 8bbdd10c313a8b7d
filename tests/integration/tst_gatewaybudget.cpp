// The gateway's cost budgets end to end: a real Gateway in front of the project's simulator over
// loopback (port 0), called over raw TCP. With prices set and a small budget, calls succeed until their
// worst case no longer fits; then every caller gets 429 `budget_exhausted` in its own dialect with
// `x-should-retry: false`, nothing more goes upstream, and the gateway keeps serving (/health, /status,
// /metrics). A caller key over its own max_cost_usd gets the same answer while other keys go on.

#include "gateway/gateway.h"
#include "rawhttp.h"
#include "sim/simulator.h"

#include <QCryptographicHash>
#include <QElapsedTimer>
#include <QProcess>
#include <QRegularExpression>
#include <QStandardPaths>
#include <QTcpSocket>
#include <QTest>

#include <memory>

using namespace Sluice;
using json = nlohmann::json;

namespace {

/// One answer read off a caller's connection.
struct Answer
{
    int status = 0;
    QMap<QByteArray, QByteArray> headers; ///< names lower-cased
    QByteArray body;

    json bodyJson() const
    {
        return json::parse(body.constData(), body.constData() + body.size(), nullptr, false);
    }
    QByteArray header(const char *name) const { return headers.value(QByteArray(name)); }
};

/// Parses one Content-Length response from `buffer`; false while it is incomplete.
bool parseAnswer(const QByteArray &buffer, Answer *out)
{
    const qsizetype end = buffer.indexOf("\r\n\r\n");
    if (end < 0) {
        return false;
    }
    const QList<QByteArray> lines = buffer.left(end).split('\n');
    Answer a;
    a.status = lines.first().split(' ').value(1).toInt();
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const qsizetype colon = lines.at(i).indexOf(':');
        if (colon > 0) {
            a.headers.insert(lines.at(i).left(colon).trimmed().toLower(),
                             lines.at(i).mid(colon + 1).trimmed());
        }
    }
    const qint64 length = a.headers.value("content-length").toLongLong();
    if (buffer.size() < end + 4 + length) {
        return false;
    }
    a.body = buffer.mid(end + 4, length);
    *out = std::move(a);
    return true;
}

QByteArray chatBody(int n)
{
    const json body = {
        {"max_tokens", 64},
        {"messages", json::array({{{"role", "user"}, {"content", "budget call " + std::to_string(n)}}})}};
    return QByteArray::fromStdString(body.dump());
}

QByteArray messagesBody(int n)
{
    const json body = {
        {"model", "house-model"},
        {"max_tokens", 64},
        {"messages", json::array({{{"role", "user"}, {"content", "budget call " + std::to_string(n)}}})}};
    return QByteArray::fromStdString(body.dump());
}

/// The value of an unlabelled (or exactly labelled) sample in Prometheus text; -1 when absent.
double sample(const QByteArray &text, const QByteArray &name)
{
    for (const QByteArray &line : text.split('\n')) {
        if (line.startsWith(QByteArray(name + ' '))) {
            return line.mid(name.size() + 1).toDouble();
        }
    }
    return -1;
}

/// `object[key]` when it is a string, else a marker that compares unequal to any expected text.
QString text(const json &object, const char *key)
{
    const auto it = object.find(key);
    return it != object.end() && it->is_string()
               ? QString::fromStdString(it->get<std::string>())
               : QStringLiteral("<no string \"%1\">").arg(QLatin1String(key));
}

constexpr double PerMtok = 1000; ///< $0.001 a token, in and out: a call costs cents, its worst case more
constexpr double Slack = 1e-9;

/// A caller key of the project: `name`, the SHA-256 of `secret`, and its budget (0: none).
GatewayKeyConfig keyConfig(const QString &name, const QByteArray &secret, double maxCostUsd = 0)
{
    GatewayKeyConfig k;
    k.name = name;
    k.sha256 = QString::fromLatin1(QCryptographicHash::hash(secret, QCryptographicHash::Sha256).toHex());
    k.maxCostUsd = maxCostUsd;
    return k;
}

} // namespace

class tst_GatewayBudget : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void cleanup();
    void gatewayBudgetRefusesInEachDialectAndKeepsServing();
    void keyBudgetRefusesThatKeyOnly();
    void concurrentCallersNeverPassTheBudget();
    void keyBudgetHoldsWithItsCallsInFlight();
    void parkedCallsAnswerOnceWhenTheyCanNeverFit();

private:
    /// A simulator and a gateway with one priced endpoint on it (and `project`'s limits and keys).
    void start(ProjectConfig project, int latencyMs = 0);
    /// One call on its own connection, waited for.
    Answer call(const QByteArray &method, const QByteArray &path, const QByteArray &body = QByteArray(),
                const QList<QPair<QByteArray, QByteArray>> &headers = {});
    /// `count` calls at once, each on its own connection; their answers (status 0: none in time).
    std::vector<Answer> callMany(int count, const QList<QPair<QByteArray, QByteArray>> &headers = {});
    json status() { return call("GET", "/status").bodyJson(); }
    qint64 upstreamRequests() const { return m_sim->stats().requests; }

    std::unique_ptr<Simulator> m_sim;
    std::unique_ptr<Gateway> m_gateway;
};

void tst_GatewayBudget::cleanup()
{
    m_gateway.reset();
    m_sim.reset();
}

void tst_GatewayBudget::start(ProjectConfig project, int latencyMs)
{
    SimulatorConfig config;
    config.latencyMs = latencyMs;
    config.jitterMs = 0;
    m_sim = std::make_unique<Simulator>(config);
    QVERIFY(m_sim->listen());
    EndpointConfig e = EndpointConfig::fromUrl(m_sim->chatUrl(), 0);
    e.name = QStringLiteral("sim");
    e.model = QStringLiteral("house-model");
    e.timeoutS = 10;
    e.price.inputPerMtok = PerMtok;
    e.price.outputPerMtok = PerMtok;
    project.endpoints = {e};
    project.limits.retry.baseDelayMs = 10;
    project.limits.retry.maxDelayMs = 50;
    m_gateway = std::make_unique<Gateway>(project, GatewayOptions{});
    const auto port = m_gateway->start();
    QVERIFY2(bool(port), port ? "" : qPrintable(port.error().message));
}

Answer tst_GatewayBudget::call(const QByteArray &method, const QByteArray &path, const QByteArray &body,
                               const QList<QPair<QByteArray, QByteArray>> &headers)
{
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, m_gateway->port());
    socket.write(Test::httpRequest(method, path, body, headers));
    QByteArray buffer;
    Answer answer;
    QElapsedTimer timer;
    timer.start();
    while (timer.elapsed() < 10000) {
        QTest::qWait(2); // the gateway and the simulator run on this thread
        buffer += socket.readAll();
        if (parseAnswer(buffer, &answer)) {
            return answer;
        }
    }
    return answer; // status 0: no answer in time
}

std::vector<Answer> tst_GatewayBudget::callMany(int count,
                                                const QList<QPair<QByteArray, QByteArray>> &headers)
{
    std::vector<std::unique_ptr<QTcpSocket>> sockets;
    for (int i = 0; i < count; ++i) {
        auto socket = std::make_unique<QTcpSocket>();
        socket->connectToHost(QHostAddress::LocalHost, m_gateway->port());
        sockets.push_back(std::move(socket));
    }
    // Every caller connected before any call is made: then they all arrive within a few ms.
    const auto connected = [&sockets] {
        return std::all_of(sockets.begin(), sockets.end(),
                           [](const auto &s) { return s->state() == QAbstractSocket::ConnectedState; });
    };
    QElapsedTimer connecting;
    connecting.start();
    while (!connected() && connecting.elapsed() < 10000) {
        QTest::qWait(2);
    }
    for (int i = 0; i < count; ++i) {
        QTcpSocket *socket = sockets[std::size_t(i)].get();
        socket->write(Test::httpRequest("POST", "/v1/chat/completions", chatBody(i), headers));
    }
    std::vector<QByteArray> buffers(static_cast<std::size_t>(count));
    std::vector<Answer> answers(static_cast<std::size_t>(count));
    QElapsedTimer timer;
    timer.start();
    int done = 0;
    while (done < count && timer.elapsed() < 5000) { // refusals are answered at once, not one per wake-up
        QTest::qWait(2);
        done = 0;
        for (std::size_t i = 0; i < sockets.size(); ++i) {
            buffers[i] += sockets[i]->readAll();
            done += answers[i].status != 0 || parseAnswer(buffers[i], &answers[i]) ? 1 : 0;
        }
    }
    for (std::size_t i = 0; i < sockets.size(); ++i) {
        if (answers[i].status == 0) {
            qInfo("caller %d: no answer; socket state %d, error %s, buffered %d", int(i),
                  int(sockets[i]->state()), qPrintable(sockets[i]->errorString()), int(buffers[i].size()));
        }
    }
    return answers;
}

void tst_GatewayBudget::gatewayBudgetRefusesInEachDialectAndKeepsServing()
{
    constexpr double Budget = 0.5; // a call's worst case is almost $0.2, what it costs about $0.011
    ProjectConfig project;
    project.limits.maxCostUsd = Budget;
    start(project);

    int succeeded = 0;
    Answer refused;
    for (int i = 1; i <= 100 && refused.status == 0; ++i) {
        const Answer a = call("POST", "/v1/chat/completions", chatBody(i));
        if (a.status == 200) {
            ++succeeded;
        } else {
            refused = a;
        }
    }
    qInfo("%d calls succeeded before the budget; then %d %s", succeeded, refused.status,
          refused.body.constData());
    QVERIFY2(succeeded >= 3, qPrintable(QString::number(succeeded)));
    QCOMPARE(upstreamRequests(), qint64(succeeded)); // the refused call was never sent

    // OpenAI's shape, with the headers an SDK reads before retrying.
    QCOMPARE(refused.status, 429);
    QCOMPARE(refused.header("x-should-retry"), QByteArray("false"));
    QCOMPARE(refused.header("x-sluice-error-class"), QByteArray("budget"));
    QVERIFY(refused.header("retry-after").isEmpty()); // waiting does not raise a budget
    const json openai = refused.bodyJson();
    QVERIFY2(openai.is_object() && openai.contains("error"), refused.body.constData());
    const json &error = openai.at("error");
    QCOMPARE(text(error, "code"), QStringLiteral("budget_exhausted"));
    QCOMPARE(text(error, "type"), QStringLiteral("rate_limit_error"));
    QVERIFY(error.contains("param") && error.at("param").is_null());
    const QString message = QString::fromStdString(error.value("message", std::string()));
    QVERIFY2(message.contains(QStringLiteral("the gateway's budget of $0.5 is spent")), qPrintable(message));

    // Anthropic's shape for a Messages caller; still nothing sent.
    const Answer anthropic =
        call("POST", "/v1/messages", messagesBody(0), {{"anthropic-version", "2023-06-01"}});
    QCOMPARE(anthropic.status, 429);
    QCOMPARE(anthropic.header("x-should-retry"), QByteArray("false"));
    QCOMPARE(anthropic.header("x-sluice-error-class"), QByteArray("budget"));
    const json ant = anthropic.bodyJson();
    QCOMPARE(text(ant, "type"), QStringLiteral("error"));
    QCOMPARE(text(ant.at("error"), "type"), QStringLiteral("rate_limit_error"));
    QVERIFY(QString::fromStdString(ant.at("error").value("message", std::string()))
                .contains(QStringLiteral("budget of $0.5 is spent")));
    for (int i = 0; i < 5; ++i) {
        QCOMPARE(call("POST", "/v1/chat/completions", chatBody(1000 + i)).status, 429);
    }
    QCOMPARE(upstreamRequests(), qint64(succeeded));

    // The gateway keeps serving: healthy, and its spend is within the budget.
    QVERIFY(m_gateway->isRunning());
    QCOMPARE(call("GET", "/health").status, 200);
    const json s = status();
    const double spent = s.at("cost").at("spent_usd").get<double>();
    qInfo("spent $%.6f of the $%.2f budget", spent, Budget);
    QVERIFY(spent > Budget / 2);
    QVERIFY(spent <= Budget + Slack);
    QCOMPARE(s.at("cost").at("max_cost_usd").get<double>(), Budget);
    QCOMPARE(s.at("callers").at("budget_exhausted").get<qint64>(), qint64(7));
    const QByteArray metrics = call("GET", "/metrics").body;
    QVERIFY(std::abs(sample(metrics, "sluice_cost_spent_usd_total") - spent) < 1e-9);
    QCOMPARE(sample(metrics, "sluice_cost_budget_usd"), Budget);
    QCOMPARE(sample(metrics, "sluice_gateway_callers_total{result=\"budget_exhausted\"}"), 7.0);
}

void tst_GatewayBudget::keyBudgetRefusesThatKeyOnly()
{
    constexpr double KeyBudget = 0.5; // some 40 calls' cost, a couple of worst cases
    const QByteArray alphaKey = "sk-alpha-secret-0123456789";
    const QByteArray betaKey = "sk-beta-secret-9876543210";
    ProjectConfig project;
    const GatewayKeyConfig alpha = keyConfig(QStringLiteral("alpha"), alphaKey, KeyBudget);
    const GatewayKeyConfig beta = keyConfig(QStringLiteral("beta"), betaKey);
    project.gateway.keys = {alpha, beta};
    start(project);

    const QList<QPair<QByteArray, QByteArray>> asAlpha = {{"Authorization", "Bearer " + alphaKey}};
    int succeeded = 0;
    Answer refused;
    for (int i = 1; i <= 50 && refused.status == 0; ++i) {
        const Answer a = call("POST", "/v1/chat/completions", chatBody(i), asAlpha);
        if (a.status == 200) {
            ++succeeded;
        } else {
            refused = a;
        }
    }
    qInfo("key alpha: %d calls before its budget", succeeded);
    QVERIFY(succeeded >= 1);
    QCOMPARE(upstreamRequests(), qint64(succeeded));
    QCOMPARE(refused.status, 429);
    QCOMPARE(refused.header("x-should-retry"), QByteArray("false"));
    QCOMPARE(refused.header("x-sluice-error-class"), QByteArray("budget"));
    const json error = refused.bodyJson().at("error");
    QCOMPARE(text(error, "code"), QStringLiteral("budget_exhausted"));
    const QString message = QString::fromStdString(error.value("message", std::string()));
    QVERIFY2(message.contains(QStringLiteral("the caller key's budget of $0.5 has no room for this call")),
             qPrintable(message));
    const QRegularExpressionMatch worstMatch =
        QRegularExpression(QStringLiteral("may cost up to \\$([0-9.]+)")).match(message);
    QVERIFY2(worstMatch.hasMatch(), qPrintable(message));
    const double worst = worstMatch.captured(1).toDouble();
    QVERIFY(!refused.body.contains(alphaKey));

    // Anthropic's shape for the same key; then another key still goes.
    const Answer anthropic = call("POST", "/v1/messages", messagesBody(0), {{"x-api-key", alphaKey}});
    QCOMPARE(anthropic.status, 429);
    QCOMPARE(text(anthropic.bodyJson().at("error"), "type"), QStringLiteral("rate_limit_error"));
    QCOMPARE(upstreamRequests(), qint64(succeeded));
    QCOMPARE(
        call("POST", "/v1/chat/completions", chatBody(99), {{"Authorization", "Bearer " + betaKey}}).status,
        200);
    QCOMPARE(upstreamRequests(), qint64(succeeded) + 1);

    // Each call's worst case is reserved when it arrives: the key never spends past its budget, and
    // it was refused only once the worst case no longer fitted in what was left.
    const json keys = status().at("cost").at("keys");
    QCOMPARE(keys.size(), std::size_t(2));
    const double alphaSpent = keys.at(0).at("spent_usd").get<double>();
    qInfo("key alpha spent $%.6f of $%.2f; the next call's worst case $%.6f", alphaSpent, KeyBudget, worst);
    QVERIFY(alphaSpent <= KeyBudget + Slack);
    QVERIFY(alphaSpent + worst > KeyBudget);
    QVERIFY(worst > alphaSpent / succeeded); // a worst case is dearer than what a call costs
    QCOMPARE(keys.at(0).at("reserved_usd").get<double>(), 0.0); // nothing in flight
    QCOMPARE(keys.at(0).at("budget_exhausted").get<qint64>(), qint64(2));
    QVERIFY(keys.at(1).at("spent_usd").get<double>() > 0);
    QVERIFY(keys.at(1).at("max_cost_usd").is_null());
    const QByteArray metrics = call("GET", "/metrics").body;
    QCOMPARE(sample(metrics, "sluice_gateway_key_requests_total{key=\"alpha\",result=\"budget_exhausted\"}"),
             2.0);
    QCOMPARE(sample(metrics, "sluice_gateway_key_budget_usd{key=\"alpha\"}"), KeyBudget);
    QVERIFY(std::abs(sample(metrics, "sluice_gateway_key_cost_usd_total{key=\"alpha\"}") - alphaSpent) <
            1e-9);

    // The new families pass Prometheus' own checks (as tst_gateway's do).
    const QString promtool = QStandardPaths::findExecutable(QStringLiteral("promtool"));
    QVERIFY2(!promtool.isEmpty(), "promtool is missing: run packaging/install-deps.sh");
    QProcess check;
    check.start(promtool, {QStringLiteral("check"), QStringLiteral("metrics")});
    QVERIFY(check.waitForStarted());
    check.write(metrics);
    check.closeWriteChannel();
    QVERIFY(check.waitForFinished(30000));
    const QByteArray said = check.readAllStandardOutput() + check.readAllStandardError();
    QVERIFY2(check.exitCode() == 0 && said.trimmed().isEmpty(), said.constData());
}

void tst_GatewayBudget::concurrentCallersNeverPassTheBudget()
{
    // 60 calls at once against room for three worst cases at a time, each upstream answer taking 50 ms:
    // most must wait for the reservations in flight to settle, then go or be refused; whatever the
    // order, the spend stays within the budget (without the reservations all 60 would go at once).
    constexpr double Budget = 0.6;
    ProjectConfig project;
    project.limits.maxCostUsd = Budget;
    start(project, 50);
    const std::vector<Answer> answers = callMany(60);
    int ok = 0;
    int refused = 0;
    for (const Answer &a : answers) {
        ok += a.status == 200 ? 1 : 0;
        if (a.status == 429 && a.header("x-sluice-error-class") == "budget" &&
            a.header("x-should-retry") == "false") {
            ++refused;
        }
    }
    const double spent = status().at("cost").at("spent_usd").get<double>();
    qInfo("60 concurrent calls: %d succeeded, %d refused at the budget; spent $%.6f of $%.2f", ok, refused,
          spent, Budget);
    QVERIFY(spent <= Budget + Slack);
    QCOMPARE(ok + refused, 60); // every caller answered, once, one way or the other
    QVERIFY(ok >= 3);
    QVERIFY(refused >= 1);
    QCOMPARE(upstreamRequests(), qint64(ok));
    QVERIFY(m_gateway->isRunning());
}

void tst_GatewayBudget::keyBudgetHoldsWithItsCallsInFlight()
{
    // 20 calls of one key at once, each upstream answer taking 200 ms, and a budget that holds three of
    // their worst cases ($0.192 each, see keyBudgetRefusesThatKeyOnly): three go, the others wait in the
    // gateway, unsent, and go as the answers settle what the calls in flight held. Every call succeeds
    // and the spend stays within the budget. Checking the spend alone, as when a call arrives, would
    // send all 20 at once.
    constexpr double KeyBudget = 0.7;
    constexpr double LatencyMs = 200;
    const QByteArray gammaKey = "sk-gamma-secret-0123456789";
    ProjectConfig project;
    const GatewayKeyConfig gamma = keyConfig(QStringLiteral("gamma"), gammaKey, KeyBudget);
    project.gateway.keys = {gamma};
    start(project, int(LatencyMs));
    m_sim->setRecording(true);
    const QList<QPair<QByteArray, QByteArray>> asGamma = {{"Authorization", "Bearer " + gammaKey}};

    const std::vector<Answer> answers = callMany(20, asGamma);
    int ok = 0;
    for (const Answer &a : answers) {
        ok += a.status == 200 ? 1 : 0;
        if (a.status != 200) {
            qInfo("unexpected answer %d: %s", a.status, a.body.constData());
        }
    }
    // Calls in flight upstream at once: those received within one answer's latency of each other.
    const auto received = m_sim->received();
    int mostInFlight = 0;
    for (const auto &first : received) {
        const auto together = std::count_if(received.cbegin(), received.cend(), [&first](const auto &r) {
            return r.atMs >= first.atMs && r.atMs < first.atMs + LatencyMs - 20;
        });
        mostInFlight = std::max(mostInFlight, int(together));
    }
    json key = status().at("cost").at("keys").at(0);
    qInfo("20 calls of one key at once: %d answered 200, at most %d upstream at a time; spent $%.6f of $%.2f",
          ok, mostInFlight, key.at("spent_usd").get<double>(), KeyBudget);
    QCOMPARE(ok, 20);
    QCOMPARE(upstreamRequests(), qint64(20));
    QVERIFY(mostInFlight >= 2);
    QVERIFY(mostInFlight <= 3); // no more worst cases than the budget holds
    QVERIFY(key.at("spent_usd").get<double>() <= KeyBudget + Slack);
    QCOMPARE(key.at("reserved_usd").get<double>(), 0.0); // every reservation settled
    QCOMPARE(key.at("budget_exhausted").get<qint64>(), qint64(0));
}

void tst_GatewayBudget::parkedCallsAnswerOnceWhenTheyCanNeverFit()
{
    // A budget of one worst case and a bit: the first call goes, the second waits for it; the first
    // one's cost then leaves no room for another worst case, so the waiting calls are refused (429
    // budget_exhausted), once each, and never sent.
    constexpr double KeyBudget = 0.2;
    const QByteArray deltaKey = "sk-delta-secret-0123456789";
    ProjectConfig project;
    const GatewayKeyConfig delta = keyConfig(QStringLiteral("delta"), deltaKey, KeyBudget);
    project.gateway.keys = {delta};
    start(project, 300);
    const std::vector<Answer> answers = callMany(3, {{"Authorization", "Bearer " + deltaKey}});
    int ok = 0;
    int refused = 0;
    for (const Answer &a : answers) {
        ok += a.status == 200 ? 1 : 0;
        if (a.status == 429 && a.header("x-should-retry") == "false" &&
            text(a.bodyJson().at("error"), "code") == QStringLiteral("budget_exhausted")) {
            ++refused;
        }
    }
    QCOMPARE(ok, 1);
    QCOMPARE(refused, 2);
    QCOMPARE(upstreamRequests(), qint64(1));
    const json key = status().at("cost").at("keys").at(0);
    QVERIFY(key.at("spent_usd").get<double>() <= KeyBudget + Slack);
    QCOMPARE(key.at("reserved_usd").get<double>(), 0.0);
    QCOMPARE(key.at("budget_exhausted").get<qint64>(), qint64(2));
}

QTEST_GUILESS_MAIN(tst_GatewayBudget)
#include "tst_gatewaybudget.moc"
