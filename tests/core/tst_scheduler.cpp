// The engine's scheduling behaviour on the scripted fake transport and the manual clock: weights,
// retries and their budget, the limiter's reactions, ejection, quota, pause/resume and stop. No sockets
// and no sleeping: simulated minutes take milliseconds. (tests/integration/tst_engine.cpp keeps a few of
// the same over loopback HTTP against the simulator.)
#include "engine/engine.h"
#include "fakerun.h"
#include "testprinters.h"

#include <QHash>
#include <QSet>
#include <QTemporaryDir>
#include <QTest>

#include <deque>
#include <memory>

using namespace Sluice;
using json = nlohmann::json;
using Reply = Test::FakeTransport::Reply;
using Sent = Test::FakeTransport::Sent;

namespace {

/// One file run on the fake transport.
struct Harness : Test::FakeRun
{
    EndpointConfig &addEndpoint(const QString &name, double weight = 1, int maxInFlight = 64)
    {
        EndpointConfig e =
            EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:9/v1/chat/completions")), 0);
        e.name = name;
        e.weight = weight;
        e.model = QStringLiteral("m");
        e.maxInFlight = maxInFlight;
        project.endpoints.append(e);
        return project.endpoints.last();
    }
    /// `n` prompt lines "p1".."pn" (custom_id = "id<i>").
    bool writePrompts(int n)
    {
        QList<json> lines;
        for (int i = 1; i <= n; ++i) {
            lines.append(json{{"custom_id", "id" + std::to_string(i)}, {"input", "p" + std::to_string(i)}});
        }
        return Test::writeJsonl(options.requestsPath, lines);
    }
};

/// A serving engine's source: requests handed out one at a time; some may stop being wanted.
class ListSource : public RequestSource
{
public:
    std::deque<Request> pending;
    QSet<qint64> unwanted;

    Item next() override
    {
        Item item;
        if (!pending.empty()) {
            item.kind = Item::Kind::Request;
            item.request = std::move(pending.front());
            pending.pop_front();
        }
        return item;
    }
    bool isWanted(const Request &request) const override { return !unwanted.contains(request.line); }
    qint64 backlog() const override { return qint64(pending.size()); }
    void poke() const { wake(); }
};

/// A serving engine's sink: counts outcomes.
class CountingSink : public OutcomeSink
{
public:
    int succeededCount = 0;
    QList<qint64> dropped;

    void succeeded(const Request &, const QByteArray &, const Completion &) override { ++succeededCount; }
    void failed(const Request &request, ErrorClass cls, const QString &, const Completion &,
                const json &) override
    {
        if (cls == ErrorClass::Cancelled) {
            dropped.append(request.line);
        }
    }
    void rejected(const InputError &) override {}
};

int lineOf(const Sent &sent)
{
    return Test::FakeTransport::textOf(sent).mid(1).toInt(); // "p<line>"
}

} // namespace

class tst_Scheduler : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void tailOfARunGoesAsFastAsItsMiddle();
    void everyLineExactlyOnceUnderFaults();
    void weightsAreRespected();
    void maxInFlightIsBackPressure();
    void serverErrorsBackOffThenSucceed();
    void retryAfterIsHonoured();
    void clientErrorsAreNotRetried();
    void attemptsAreCapped();
    void quotaMovesTrafficToOtherEndpoints();
    void everyEndpointOutOfQuotaFailsClearly();
    void rateLimitStormPausesThenProbes();
    void deadEndpointIsEjectedAndComesBack();
    void poisonRequestDoesNotEjectItsEndpoint();
    void pauseHoldsEverythingResumeGoesOn();
    void gracefulStopLeavesUnsentLinesWithoutRecords();
    void configuredRateIsNeverExceeded();
    void droppedRequestDoesNotHoldUpTheNext();
    void liveWeightChangeTakesEffect();
    void disablingEveryEndpointPausesTheRun();
    void overloadPausesTheEndpointWithoutCuttingItsRate();
    void failingEndpointIsEjectedThenGivenUp();
    void streamedRepliesAreTimedAndCounted();
    void lineStreamSettingWins();
    void failedStreamsAreRetriedNeverPartial_data();
    void failedStreamsAreRetriedNeverPartial();
    void streamGivenToACallerIsNotRetried();
    void failedStreamsReportedTokensAreSpent();
};

void tst_Scheduler::tailOfARunGoesAsFastAsItsMiddle()
{
    // The run: 4,000 lines through two endpoints, one answering 500 to 10 % of requests, no
    // limits that bind, max_attempts 8. The retries of the tail must not crawl at 1 retry/s.
    Harness h;
    h.addEndpoint(QStringLiteral("healthy"));
    h.addEndpoint(QStringLiteral("flaky"));
    h.project.limits.retry.maxAttempts = 8;
    h.project.limits.retry.baseDelayMs = 500;
    h.project.limits.retry.maxDelayMs = 30000;
    QVERIFY(h.writePrompts(4000));
    std::mt19937 dice(7);
    h.transport.setScript([&dice](const Sent &sent) {
        Reply r;
        r.delayMs = 1;
        if (sent.endpoint == 1 && dice() % 10 == 0) {
            r.status = 500;
            r.body = {{"error", {{"message", "boom"}, {"type", "server_error"}}}};
        }
        return r;
    });
    QVERIFY(h.run());
    QVERIFY(h.everyLineOnce(4000));
    QCOMPARE(h.results().size(), 4000);
    // Fresh traffic alone takes about 4,000 / (2 × 64 per ms) ≈ 0.1 s; the retries' backoff (full
    // jitter, ≤ 0.5 s, 1 s, 2 s for the 2nd, 3rd, 4th attempt) bounds the tail at a few seconds.
    // A retry budget that starves after fresh traffic ends (1 retry/s) took ~100 s here.
    const double took = h.summary.elapsedMs;
    qInfo("4,000 lines with 10 %% 500s on one endpoint: %.0f ms of clock time, %lld retries", took,
          h.summary.retries);
    QVERIFY2(took < 5000, qPrintable(QString::number(took)));
    QVERIFY(h.summary.retries > 100);
}

void tst_Scheduler::everyLineExactlyOnceUnderFaults()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"));
    h.addEndpoint(QStringLiteral("b"));
    h.project.limits.retry.maxAttempts = 10;
    QVERIFY(h.writePrompts(3000));
    std::mt19937 dice(11);
    h.transport.setScript([&dice](const Sent &) {
        Reply r;
        r.delayMs = 1 + dice() % 20;
        switch (dice() % 20) {
        case 0:
            r.status = 500;
            break;
        case 1:
            r.failure = Reply::Failure::Reset;
            break;
        case 2:
            // A burst refused under the limit the server announces: a pause, not a slower rate.
            r.status = 429;
            r.rateLimit.retryAfterMs = 50;
            r.rateLimit.requestLimit = 6000000;
            break;
        case 3:
            r.truncated = true; // a 2xx cut short: not a success
            break;
        case 4:
            r.status = 529;
            break;
        default:
            break;
        }
        return r;
    });
    const bool ran = h.run();
    if (!ran) {
        const MetricsSnapshot s = h.engine->snapshot();
        qWarning("state %s in flight %lld queued %lld waiting %lld done %lld sent %d; %s",
                 qPrintable(toString(s.state)), s.inFlight, s.queued, s.waitingRetry, s.done(),
                 int(h.transport.sent().size()), qPrintable(h.notices.join(QLatin1Char('\n'))));
        for (const EndpointStats &e : s.endpoints) {
            qWarning("%s: %s %s", qPrintable(e.name), qPrintable(e.stateText()),
                     qPrintable(e.limitReasonText()));
        }
    }
    QVERIFY(ran);
    QVERIFY(h.everyLineOnce(3000));
    QCOMPARE(h.results().size(), 3000); // 10 attempts are enough for every line here
    // Nothing paid twice: exactly one 2xx that arrived whole per line.
    QCOMPARE(h.summary.succeeded, qint64(3000));
}

void tst_Scheduler::weightsAreRespected()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"), 3);
    h.addEndpoint(QStringLiteral("b"), 1);
    QVERIFY(h.writePrompts(4000));
    QVERIFY(h.run());
    QCOMPARE(h.transport.sentTo(0), 3000);
    QCOMPARE(h.transport.sentTo(1), 1000);
}

void tst_Scheduler::maxInFlightIsBackPressure()
{
    // A slow endpoint with few connections keeps its share; it is never handed more than its limit.
    Harness h;
    h.addEndpoint(QStringLiteral("fast"), 1, 64);
    h.addEndpoint(QStringLiteral("slow"), 1, 4);
    QVERIFY(h.writePrompts(400));
    h.transport.setScript([](const Sent &sent) {
        Reply r;
        r.delayMs = sent.endpoint == 1 ? 200 : 1;
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(h.transport.peakInFlight(1), 4);
    QCOMPARE(h.transport.sentTo(0), 200);
    QCOMPARE(h.transport.sentTo(1), 200);
}

void tst_Scheduler::serverErrorsBackOffThenSucceed()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"));
    h.project.limits.retry.baseDelayMs = 400;
    h.project.limits.retry.maxDelayMs = 400;
    QVERIFY(h.writePrompts(1));
    h.transport.setScript([&h](const Sent &) {
        Reply r;
        r.status = h.transport.sent().size() < 2 ? 503 : 200; // two failures, then success
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(h.results().size(), 1);
    QCOMPARE(h.results().first().at("attempts").get<int>(), 3);
    const auto &sent = h.transport.sent();
    QCOMPARE(int(sent.size()), 3);
    // 503 = overloaded: the endpoint pauses (2 s) whatever the backoff says.
    QVERIFY(sent[1].atMs - sent[0].atMs >= EndpointLimiter::OverloadPauseMs);
}

void tst_Scheduler::retryAfterIsHonoured()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"));
    QVERIFY(h.writePrompts(1));
    h.transport.setScript([&h](const Sent &) {
        Reply r;
        if (h.transport.sent().empty()) {
            r.status = 429;
            r.rateLimit.retryAfterMs = 3000;
        }
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(h.results().size(), 1);
    const auto &sent = h.transport.sent();
    QCOMPARE(int(sent.size()), 2);
    QVERIFY2(sent[1].atMs - sent[0].atMs >= 3000, qPrintable(QString::number(sent[1].atMs - sent[0].atMs)));
}

void tst_Scheduler::clientErrorsAreNotRetried()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"));
    QVERIFY(h.writePrompts(5));
    h.transport.setScript([](const Sent &) {
        Reply r;
        r.status = 400;
        r.body = {{"error", {{"message", "bad request"}, {"type", "invalid_request_error"}}}};
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(int(h.transport.sent().size()), 5);
    QCOMPARE(h.errors().size(), 5);
    QCOMPARE(QString::fromStdString(h.errors().first().at("error_class").get<std::string>()),
             QStringLiteral("client"));
}

void tst_Scheduler::attemptsAreCapped()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"));
    h.project.limits.retry.maxAttempts = 4;
    QVERIFY(h.writePrompts(1));
    h.transport.setScript([](const Sent &) {
        Reply r;
        r.failure = Reply::Failure::Reset;
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(int(h.transport.sent().size()), 4);
    QCOMPARE(h.errors().size(), 1);
    QVERIFY(QString::fromStdString(h.errors().first().at("error").get<std::string>())
                .contains(QStringLiteral("gave up after 4 attempts")));
}

void tst_Scheduler::quotaMovesTrafficToOtherEndpoints()
{
    Harness h;
    h.addEndpoint(QStringLiteral("broke"));
    h.addEndpoint(QStringLiteral("paid"));
    QVERIFY(h.writePrompts(200));
    h.transport.setScript([](const Sent &sent) {
        Reply r;
        if (sent.endpoint == 0) {
            r.status = 429;
            r.body = {
                {"error", {{"message", "You exceeded your current quota"}, {"code", "insufficient_quota"}}}};
        }
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(h.results().size(), 200);
    QVERIFY(h.transport.sentTo(0) <= 64); // only what was in flight when the first quota answer came
    QCOMPARE(h.summary.endpoints.at(0).state, EndpointState::Quota);
    QVERIFY(h.notices.join(QLatin1Char('\n')).contains(QStringLiteral("\"broke\" is out of quota")));
}

void tst_Scheduler::everyEndpointOutOfQuotaFailsClearly()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"));
    QVERIFY(h.writePrompts(300));
    h.transport.setScript([](const Sent &) {
        Reply r;
        r.status = 429;
        r.body = {{"error", {{"message", "quota"}, {"code", "insufficient_quota"}}}};
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(h.errors().size(), 300);
    for (const json &e : h.errors()) {
        QCOMPARE(QString::fromStdString(e.at("error_class").get<std::string>()), QStringLiteral("quota"));
    }
    QVERIFY(h.transport.sentTo(0) <= 64);
}

void tst_Scheduler::rateLimitStormPausesThenProbes()
{
    // 429s without Retry-After: the endpoint pauses, then one probe goes before it re-opens.
    Harness h;
    h.addEndpoint(QStringLiteral("a"), 1, 8);
    QVERIFY(h.writePrompts(50));
    double stormEndsMs = h.clock.nowMs() + 1000;
    h.transport.setScript([&](const Sent &sent) {
        Reply r;
        r.delayMs = 5;
        if (sent.atMs < stormEndsMs) {
            r.status = 429;
        }
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(h.results().size(), 50);
    // After each pause exactly one request (the probe) is in flight until it answers.
    const auto &sent = h.transport.sent();
    int probesAlone = 0;
    for (std::size_t i = 1; i + 1 < sent.size(); ++i) {
        if (sent[i].atMs - sent[i - 1].atMs >= EndpointLimiter::FirstPauseMs &&
            sent[i + 1].atMs - sent[i].atMs >= 5) {
            ++probesAlone;
        }
    }
    QVERIFY2(probesAlone >= 2, qPrintable(QString::number(probesAlone)));
    QVERIFY(h.summary.rateLimited > 0);
}

void tst_Scheduler::deadEndpointIsEjectedAndComesBack()
{
    Harness h;
    h.addEndpoint(QStringLiteral("flaky-host"));
    h.addEndpoint(QStringLiteral("steady"));
    h.project.limits.retry.maxAttempts = 8;
    QVERIFY(h.writePrompts(3000));
    const double downUntil = h.clock.nowMs() + 3000;
    h.project.endpoints[1].maxInFlight = 2; // slow enough that the run outlasts the outage
    h.transport.setScript([&](const Sent &sent) {
        Reply r;
        r.delayMs = sent.endpoint == 1 ? 10 : 2;
        if (sent.endpoint == 0 && sent.atMs < downUntil) {
            r.failure = Reply::Failure::Refused;
        }
        return r;
    });
    QVERIFY(h.run());
    QVERIFY(h.everyLineOnce(3000));
    QCOMPARE(h.results().size(), 3000);
    const QString log = h.notices.join(QLatin1Char('\n'));
    QVERIFY2(log.contains(QStringLiteral("\"flaky-host\" is unreachable: 5 attempts in a row got no answer")),
             qPrintable(log));
    QVERIFY2(log.contains(QStringLiteral("\"flaky-host\" is back")), qPrintable(log));
    // While ejected, at most one probe per pause went to it.
    int sentWhileDown = 0;
    for (const Sent &s : h.transport.sent()) {
        sentWhileDown += s.endpoint == 0 && s.atMs < downUntil ? 1 : 0;
    }
    QVERIFY2(sentWhileDown <= 64 + 5, qPrintable(QString::number(sentWhileDown)));
}

void tst_Scheduler::poisonRequestDoesNotEjectItsEndpoint()
{
    // One line whose body always gets a 500; the others succeed. The endpoint answers: never ejected.
    Harness h;
    h.addEndpoint(QStringLiteral("only"), 1, 1); // one at a time: the poison line's retries come in a row
    h.project.limits.retry.maxAttempts = 8;
    QVERIFY(h.writePrompts(20));
    h.transport.setScript([](const Sent &sent) {
        Reply r;
        if (lineOf(sent) == 3) {
            r.status = 500;
        }
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(h.results().size(), 19);
    QCOMPARE(h.errors().size(), 1);
    QVERIFY(QString::fromStdString(h.errors().first().at("error").get<std::string>())
                .contains(QStringLiteral("gave up after 8 attempts")));
    QVERIFY2(!h.notices.join(QLatin1Char('\n')).contains(QStringLiteral("failing")),
             qPrintable(h.notices.join(QLatin1Char('\n'))));
    QCOMPARE(h.summary.endpoints.at(0).state, EndpointState::Active);
}

void tst_Scheduler::pauseHoldsEverythingResumeGoesOn()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"), 1, 4);
    QVERIFY(h.writePrompts(100));
    h.transport.setScript([](const Sent &) {
        Reply r;
        r.delayMs = 10;
        return r;
    });
    QVERIFY(h.start());
    h.clock.advance(50);
    h.engine->pause();
    const std::size_t sentAtPause = h.transport.sent().size();
    h.clock.advance(10000);
    QCOMPARE(h.transport.sent().size(), sentAtPause);   // nothing new while paused
    QCOMPARE(h.engine->snapshot().inFlight, qint64(0)); // those in flight came back
    h.engine->resume();
    QVERIFY(h.clock.runUntil([&h] { return h.finished; }, 60000));
    QVERIFY(h.everyLineOnce(100));
}

void tst_Scheduler::gracefulStopLeavesUnsentLinesWithoutRecords()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"), 1, 4);
    QVERIFY(h.writePrompts(100));
    h.transport.setScript([](const Sent &) {
        Reply r;
        r.delayMs = 10;
        return r;
    });
    QVERIFY(h.start());
    h.clock.advance(25); // two rounds of 4 done, 4 in flight
    h.engine->stop();
    QVERIFY(h.clock.runUntil([&h] { return h.finished; }, 1000));
    const int sent = int(h.transport.sent().size());
    QCOMPARE(int(h.results().size()), sent); // those in flight were recorded
    QCOMPARE(h.errors().size(), 0);
    QCOMPARE(h.summary.notStarted, qint64(100 - sent));
}

void tst_Scheduler::configuredRateIsNeverExceeded()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a")).rpm = 600; // 10/s
    QVERIFY(h.writePrompts(100));
    QVERIFY(h.run());
    QCOMPARE(h.results().size(), 100);
    // In any 1 s window: at most the rate plus the smoothing allowance.
    const auto &sent = h.transport.sent();
    for (std::size_t i = 0; i < sent.size(); ++i) {
        int inWindow = 0;
        for (std::size_t j = i; j < sent.size() && sent[j].atMs < sent[i].atMs + 1000; ++j) {
            ++inWindow;
        }
        QVERIFY2(inWindow <= 11, qPrintable(QString::number(inWindow)));
    }
    // Ramp-up from half the rate, then the full rate: about 100 / 10 + 1 s.
    QVERIFY(h.summary.elapsedMs > 9000 && h.summary.elapsedMs < 14000);
}

void tst_Scheduler::liveWeightChangeTakesEffect()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"), 1, 4);
    h.addEndpoint(QStringLiteral("b"), 1, 4);
    QVERIFY(h.writePrompts(300));
    h.transport.setScript([](const Sent &) {
        Reply r;
        r.delayMs = 10;
        return r;
    });
    QVERIFY(h.start());
    QVERIFY(h.clock.runUntil([&h] { return h.transport.sent().size() >= 100; }, 60000));
    h.engine->setEndpointWeight(1, 0);
    const int bAtChange = h.transport.sentTo(1);
    QVERIFY(h.clock.runUntil([&h] { return h.finished; }, 60000));
    QCOMPARE(h.results().size(), 300);
    QCOMPARE(h.transport.sentTo(1), bAtChange); // nothing more went to b
    QCOMPARE(h.transport.sentTo(0) + bAtChange, 300);
}

void tst_Scheduler::disablingEveryEndpointPausesTheRun()
{
    // Weight 0 everywhere: nothing is sent and nothing fails; the run waits for an endpoint again.
    Harness h;
    h.addEndpoint(QStringLiteral("a"), 1, 4);
    QVERIFY(h.writePrompts(100));
    h.transport.setScript([](const Sent &) {
        Reply r;
        r.delayMs = 10;
        return r;
    });
    QVERIFY(h.start());
    QVERIFY(h.clock.runUntil([&h] { return h.transport.sent().size() >= 20; }, 60000));
    h.engine->setEndpointWeight(0, 0);
    h.clock.advance(600000); // ten minutes
    const MetricsSnapshot paused = h.engine->snapshot();
    QCOMPARE(paused.failed, qint64(0));
    QCOMPARE(toString(paused.state), toString(RunState::Running));
    QCOMPARE(paused.issued, qint64(h.transport.sent().size()));
    QCOMPARE(paused.endpoints.at(0).state, EndpointState::Disabled);
    h.engine->setEndpointWeight(0, 1);
    QVERIFY(h.clock.runUntil([&h] { return h.finished; }, 60000));
    QCOMPARE(h.results().size(), 100);
}

void tst_Scheduler::overloadPausesTheEndpointWithoutCuttingItsRate()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a"), 1, 1).rpm = 6000;
    QVERIFY(h.writePrompts(40));
    h.transport.setScript([&h](const Sent &) {
        Reply r;
        r.status = h.transport.sent().size() == 10 ? 529 : 200;
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(h.results().size(), 40);
    const auto &sent = h.transport.sent();
    // The 529 (the 11th send, one in flight at a time) paused the endpoint for OverloadPauseMs; then it
    // went on at its configured rate.
    QVERIFY(sent[11].atMs - sent[10].atMs >= EndpointLimiter::OverloadPauseMs);
    QVERIFY(sent[10].atMs - sent[9].atMs < 100);
    QCOMPARE(h.summary.endpoints.at(0).limitRps, 100.0);
}

void tst_Scheduler::failingEndpointIsEjectedThenGivenUp()
{
    // Every attempt gets a 500: the endpoint is ejected (a probe per pause), and when it has been
    // failing for unreachableGiveUpMs the waiting lines end as errors saying so.
    Harness h;
    h.addEndpoint(QStringLiteral("a"), 1, 8);
    h.project.limits.retry.maxAttempts = 5;
    h.options.unreachableGiveUpMs = 2500;
    QVERIFY(h.writePrompts(300));
    h.transport.setScript([](const Sent &) {
        Reply r;
        r.status = 500;
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(h.errors().size(), 300);
    // Without ejection and the retry budget: 1,500 sends. With them: the first attempts in flight when
    // five failed in a row, a few retries, and one probe per pause until the give-up.
    QVERIFY2(h.transport.sent().size() <= 8 + 5 + 10 + 3,
             qPrintable(QString::number(h.transport.sent().size())));
    int givenUp = 0;
    for (const json &r : h.errors()) {
        givenUp +=
            QString::fromStdString(r.at("error").get<std::string>())
                    .contains(QStringLiteral("every endpoint has been unreachable or failing for 2.5 s"))
                ? 1
                : 0;
    }
    QVERIFY2(givenUp >= 280, qPrintable(QString::number(givenUp)));
    QVERIFY(h.summary.elapsedMs < 10000);
}

void tst_Scheduler::streamedRepliesAreTimedAndCounted()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a")).stream = true;
    QVERIFY(h.writePrompts(200));
    h.transport.setScript([](const Sent &) {
        Reply r;
        r.delayMs = 100;
        r.ttftMs = 30;
        r.chunks = 6;
        r.chunkIntervalMs = 10;
        r.outputTokens = 11;
        return r;
    });
    QVERIFY(h.run());
    QCOMPARE(h.results().size(), 200);
    for (const Sent &sent : h.transport.sent()) {
        QVERIFY(sent.stream);
        QCOMPARE(sent.body.value("stream", false), true);
        QCOMPARE(sent.body["stream_options"].value("include_usage", false), true);
    }
    for (const json &r : h.results()) {
        QCOMPARE(r.at("ttft_ms").get<double>(), 30.0);
        QCOMPARE(r.at("output_tokens_per_s").get<double>(), 200.0); // 10 tokens after the first in 50 ms
    }
    QCOMPARE(h.summary.streams, qint64(200));
    QCOMPARE(h.summary.streamOutputTokens, qint64(2200));
    QVERIFY2(std::abs(h.summary.ttftP50Ms - 30) <= 1.2, qPrintable(QString::number(h.summary.ttftP50Ms)));
    QVERIFY2(std::abs(h.summary.itlP99Ms - 10) <= 0.4, qPrintable(QString::number(h.summary.itlP99Ms)));
    QCOMPARE(h.summary.endpoints.at(0).streams, qint64(200));
    QVERIFY(std::abs(h.summary.endpoints.at(0).ttftP90Ms - 30) <= 1.2);
    qint64 streams = 0;
    for (const SecondSample &s : h.engine->history()) {
        streams += s.streams;
        QVERIFY(s.streams == 0 || std::abs(s.ttftP50Ms - 30) <= 1.2);
        QVERIFY(s.streams == 0 || std::abs(s.itlP50Ms - 10) <= 0.4);
        QCOMPARE(s.streamOutputTokens, s.streams * 11);
    }
    QCOMPARE(streams, qint64(200));
    const json summary = h.summary.toJson();
    QCOMPARE(summary["streaming"]["streams"].get<int>(), 200);
    QCOMPARE(summary["endpoints"][0]["streaming"]["output_tokens"].get<int>(), 2200);
    QVERIFY(summary["streaming"]["output_tokens_per_s"].get<double>() > 0);
}

void tst_Scheduler::lineStreamSettingWins()
{
    for (const bool endpointStreams : {false, true}) {
        Harness h;
        h.addEndpoint(QStringLiteral("a")).stream = endpointStreams;
        const json message = {{"role", "user"}, {"content", "hi"}};
        QVERIFY(Test::writeJsonl(h.options.requestsPath,
                                 {json{{"custom_id", "on"}, {"messages", {message}}, {"stream", true}},
                                  json{{"custom_id", "off"}, {"messages", {message}}, {"stream", false}},
                                  json{{"custom_id", "plain"}, {"messages", {message}}}}));
        QVERIFY(h.run());
        QCOMPARE(h.results().size(), 3);
        QHash<QString, double> ttft;
        for (const json &r : h.results()) {
            ttft.insert(QString::fromStdString(r.at("custom_id").get<std::string>()),
                        r.at("ttft_ms").is_null() ? -1 : r.at("ttft_ms").get<double>());
        }
        QVERIFY(ttft.value(QStringLiteral("on")) > 0);                      // its own true wins
        QCOMPARE(ttft.value(QStringLiteral("off")), -1.0);                  // its own false wins
        QCOMPARE(ttft.value(QStringLiteral("plain")) > 0, endpointStreams); // the endpoint decides
        int streamedSends = 0;
        for (const Sent &sent : h.transport.sent()) {
            streamedSends += sent.stream ? 1 : 0;
            QCOMPARE(sent.body.value("stream", false), sent.stream);
        }
        QCOMPARE(streamedSends, endpointStreams ? 2 : 1);
    }
}

void tst_Scheduler::failedStreamsAreRetriedNeverPartial_data()
{
    QTest::addColumn<int>("failure");
    QTest::addColumn<QString>("cls");
    QTest::newRow("cut") << int(StreamFailure::Cut) << QStringLiteral("transport");
    QTest::newRow("error event") << int(StreamFailure::ErrorEvent) << QStringLiteral("overloaded");
    QTest::newRow("stall") << int(StreamFailure::Stalled) << QStringLiteral("timeout");
    QTest::newRow("invalid") << int(StreamFailure::Invalid) << QStringLiteral("transport");
}

void tst_Scheduler::failedStreamsAreRetriedNeverPartial()
{
    QFETCH(int, failure);
    QFETCH(QString, cls);
    // Each line's first stream fails mid-way; the retry streams whole: one result each, 2 attempts.
    {
        Harness h;
        h.addEndpoint(QStringLiteral("a")).stream = true;
        QVERIFY(h.writePrompts(50));
        QSet<int> failedOnce;
        h.transport.setScript([&failedOnce, failure](const Sent &sent) {
            Reply r;
            if (!failedOnce.contains(lineOf(sent))) {
                failedOnce.insert(lineOf(sent));
                r.streamFailure = StreamFailure(failure);
            }
            return r;
        });
        QVERIFY(h.run());
        QVERIFY(h.everyLineOnce(50));
        QCOMPARE(h.results().size(), 50);
        for (const json &r : h.results()) {
            QCOMPARE(r.at("attempts").get<int>(), 2);
            QVERIFY(r.at("response").at("body").contains("choices")); // the whole reply
        }
        QCOMPARE(h.summary.attemptErrorsByClass.value(cls), qint64(50));
        QCOMPARE(h.summary.streams, qint64(50)); // only whole streams count as streams
    }
    // Every stream fails: errors after the last attempt, never a partial result. (Three lines: five
    // different requests failing in a row would eject the endpoint, which is another story.)
    {
        Harness h;
        h.addEndpoint(QStringLiteral("a")).stream = true;
        h.project.limits.retry.maxAttempts = 3;
        QVERIFY(h.writePrompts(3));
        h.transport.setScript([failure](const Sent &) {
            Reply r;
            r.streamFailure = StreamFailure(failure);
            return r;
        });
        QVERIFY(h.run());
        QVERIFY(h.everyLineOnce(3));
        QCOMPARE(h.results().size(), 0);
        QCOMPARE(h.errors().size(), 3);
        QCOMPARE(int(h.transport.sent().size()), 9);
        for (const json &e : h.errors()) {
            QCOMPARE(QString::fromStdString(e.at("error_class").get<std::string>()), cls);
            QCOMPARE(e.at("attempts").get<int>(), 3);
        }
    }
}

void tst_Scheduler::streamGivenToACallerIsNotRetried()
{
    Harness h;
    h.addEndpoint(QStringLiteral("a")).stream = true;
    QVERIFY(h.writePrompts(10));
    h.transport.setScript([&h](const Sent &sent) {
        Reply r;
        const int line = lineOf(sent);
        const bool firstTry = std::count_if(h.transport.sent().begin(), h.transport.sent().end(),
                                            [line](const Sent &s) { return lineOf(s) == line; }) == 0;
        if (line <= 4 && firstTry) {
            r.streamFailure = StreamFailure::Cut;
            r.committed = line <= 3; // part of it already reached a gateway caller
        }
        return r;
    });
    QVERIFY(h.run());
    QVERIFY(h.everyLineOnce(10));
    // Lines 1-3 reached a caller in part: they end there. Line 4 failed unseen: retried.
    QCOMPARE(h.errors().size(), 3);
    for (const json &e : h.errors()) {
        QVERIFY(e.at("line").get<int>() <= 3);
        QCOMPARE(e.at("attempts").get<int>(), 1);
        QCOMPARE(QString::fromStdString(e.at("error_class").get<std::string>()), QStringLiteral("transport"));
    }
    QCOMPARE(h.results().size(), 7);
    QCOMPARE(int(h.transport.sent().size()), 11);
}

void tst_Scheduler::failedStreamsReportedTokensAreSpent()
{
    // The endpoint allows 6,000 tokens a minute (100 a second). The first attempt's stream fails after
    // reporting 3,000 input tokens: those are spent, so the next sends wait about 30 s longer than when
    // the failed stream had reported nothing.
    double lastSendMs[2] = {0, 0};
    for (const bool reported : {false, true}) {
        Harness h;
        EndpointConfig &e = h.addEndpoint(QStringLiteral("a"));
        e.stream = true;
        e.tpm = 6000;
        QVERIFY(h.writePrompts(3));
        h.transport.setScript([&h, reported](const Sent &) {
            Reply r;
            r.inputTokens = 1;
            r.outputTokens = 1;
            if (h.transport.sent().empty()) {
                r.streamFailure = StreamFailure::Cut;
                r.reportedUsage = reported ? Usage{3000, 0} : Usage{};
            }
            return r;
        });
        QVERIFY(h.run(3600000));
        QCOMPARE(h.results().size(), 3);
        lastSendMs[reported ? 1 : 0] = h.transport.sent().back().atMs;
    }
    QVERIFY2(lastSendMs[1] - lastSendMs[0] > 20000,
             qPrintable(QStringLiteral("%1 vs %2").arg(lastSendMs[1]).arg(lastSendMs[0])));
}

void tst_Scheduler::droppedRequestDoesNotHoldUpTheNext()
{
    // A serving engine (the gateway's) holds one request at a time. When the one it holds is no longer
    // wanted (its caller left), the next caller's request goes in the same pass, not at a later wake-up.
    Harness h;
    h.addEndpoint(QStringLiteral("a"));
    ListSource source;
    CountingSink sink;
    EngineParts parts;
    parts.clock = &h.clock;
    parts.random = &h.random;
    parts.transport = &h.transport;
    parts.source = &source;
    parts.sink = &sink;
    Engine engine(h.project, RunOptions{}, parts);
    const auto started = engine.start();
    QVERIFY2(bool(started), started ? "" : qPrintable(started.error().message));
    engine.setEndpointWeight(0, 0); // nothing goes: the engine takes line 1 and holds it
    for (qint64 line = 1; line <= 3; ++line) {
        Request r;
        r.line = line;
        r.customId = QStringLiteral("gw-%1").arg(line);
        r.format = InputFormat::ChatBody;
        r.input =
            json{{"messages", json::array({{{"role", "user"}, {"content", "p" + std::to_string(line)}}})}};
        source.pending.push_back(std::move(r));
    }
    source.poke();
    h.clock.settle(); // timers due now fire; the clock does not move
    QVERIFY(h.transport.sent().empty());
    QCOMPARE(source.backlog(), qint64(2)); // line 1 is the engine's

    source.unwanted.insert(1);
    const double at = h.clock.nowMs();
    engine.setEndpointWeight(0, 1);
    h.clock.settle();
    QCOMPARE(sink.dropped, QList<qint64>{1});
    // Lines 2 and 3 left at once: the clock has not moved.
    QCOMPARE(int(h.transport.sent().size()), 2);
    QCOMPARE(h.transport.sent().front().atMs, at);
    QCOMPARE(lineOf(h.transport.sent().front()), 2);
    engine.stop();
}

QTEST_GUILESS_MAIN(tst_Scheduler)
#include "tst_scheduler.moc"
