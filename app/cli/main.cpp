// sluice-cli: the headless front end of the Sluice engine.

#include "allocator.h"
#ifdef SLUICE_CONNECT_CACHE
#include "connectcache.h"
#endif
#include "clioptions.h"
#include "progressprinter.h"

#include "cost/costestimate.h"
#include "engine/engine.h"
#include "gateway/gateway.h"
#include "io/preflight.h"
#include "sim/simulator.h"
#include "sim/simulatorhost.h"

#include <QCoreApplication>
#include <QFileInfo>
#include <QSaveFile>
#include <QSocketNotifier>
#include <QThread>
#include <QTimer>

#include <csignal>
#include <cstdio>
#include <memory>
#include <sys/socket.h>
#include <unistd.h>

using namespace Sluice;
using namespace Sluice::Cli;

namespace {

constexpr int ExitUsage = 2;
constexpr int ExitBudget = 3;
constexpr int ExitInterrupted = 130;

int s_signalFds[2] = {-1, -1};

void onSignal(int)
{
    const char byte = 1;
    [[maybe_unused]] const auto n = ::write(s_signalFds[0], &byte, 1);
}

/// Turns SIGINT/SIGTERM into a Qt signal on the main thread (self-pipe), so handlers run in the event loop.
class SignalWatcher : public QObject
{
    Q_OBJECT

public:
    explicit SignalWatcher(QObject *parent)
        : QObject(parent)
    {
        if (::socketpair(AF_UNIX, SOCK_STREAM, 0, s_signalFds) != 0) {
            return;
        }
        m_notifier = new QSocketNotifier(s_signalFds[1], QSocketNotifier::Read, this);
        connect(m_notifier, &QSocketNotifier::activated, this, [this] {
            char byte = 0;
            [[maybe_unused]] const auto n = ::read(s_signalFds[1], &byte, 1);
            Q_EMIT interrupted();
        });
        struct sigaction action = {};
        action.sa_handler = onSignal;
        sigemptyset(&action.sa_mask);
        action.sa_flags = SA_RESTART;
        sigaction(SIGINT, &action, nullptr);
        sigaction(SIGTERM, &action, nullptr);
    }

Q_SIGNALS:
    void interrupted();

private:
    QSocketNotifier *m_notifier = nullptr;
};

void printError(const QString &message)
{
    std::fprintf(stderr, "sluice-cli: %s\n", qPrintable(message));
}

/// `run --dry-run`: the cost estimate of the request file on stdout; nothing is sent.
int printEstimate(const CliOptions &o)
{
    const PreflightReport report = Preflight::scan(o.run.requestsPath, o.run.reader);
    if (!report.error.isEmpty()) {
        printError(report.error);
        return ExitUsage;
    }
    const CostEstimate estimate = CostEstimate::compute(report, o.project, o.run.modelOverride);
    std::printf("%s: %lld requests, %lld invalid lines; about %.0f prompt tokens\n",
                qPrintable(o.run.requestsPath), report.requests, report.invalid, report.promptTokens);
    for (const QString &line : estimate.describe()) {
        std::printf("%s\n", qPrintable(line));
    }
    std::printf("Prices: the table written %s, and the project's \"price\" blocks. Nothing was sent.\n",
                qPrintable(PriceTable::shipped().writtenOn()));
    if (!o.summaryPath.isEmpty()) {
        nlohmann::json json = {{"estimate", estimate.toJson()},
                               {"price_table_written", PriceTable::shipped().writtenOn().toStdString()},
                               {"requests", report.requests}};
        QSaveFile file(o.summaryPath);
        const std::string text = json.dump(2) + '\n';
        if (!file.open(QIODevice::WriteOnly) || file.write(text.data(), qint64(text.size())) < 0 ||
            !file.commit()) {
            printError(
                QStringLiteral("%1: cannot write the estimate: %2").arg(o.summaryPath, file.errorString()));
            return ExitUsage;
        }
    }
    return 0;
}

int runSimulate(QCoreApplication &app, const CliOptions &o)
{
    Simulator simulator(o.sim);
    const auto port = simulator.listen(o.simPort);
    if (!port) {
        printError(port.error().message);
        return ExitUsage;
    }
    const QByteArray chunks = o.sim.chunksPerReply > 0
                                  ? QByteArray(QByteArray::number(o.sim.chunksPerReply) + " chunks per reply")
                                  : QByteArrayLiteral("one chunk per token");
    std::fprintf(
        stderr,
        "Simulator listening on http://127.0.0.1:%u (POST /v1/chat/completions, POST /v1/messages, GET "
        "/health); latency %d ms + up to %d ms, limit %s, error rate %.3g, reset rate %.3g; streamed "
        "replies: first token after %d ms, a chunk every %d ms, %s. Ctrl-C stops.\n",
        unsigned(*port), o.sim.latencyMs, o.sim.jitterMs,
        o.sim.rps > 0 ? qPrintable(QStringLiteral("%1 req/s").arg(o.sim.rps)) : "none", o.sim.errorRate,
        o.sim.resetRate, o.sim.firstTokenMs, o.sim.chunkIntervalMs, chunks.constData());
    std::fflush(stderr);
    for (const auto &[atS, rps] : o.rpsSchedule) {
        QTimer::singleShot(int(atS * 1000.0), &simulator, [&simulator, rps = rps] {
            SimulatorConfig c = simulator.config();
            c.rps = rps;
            simulator.setConfig(c);
            std::fprintf(stderr, "Simulator limit now %g req/s\n", rps);
        });
    }
    SignalWatcher watcher(&app);
    QObject::connect(&watcher, &SignalWatcher::interrupted, &app, [&app] { app.quit(); });
    app.exec();
    const Simulator::Stats s = simulator.stats();
    std::fprintf(
        stderr,
        "Simulator served %lld requests: %lld ok, %lld 429, %lld 5xx, %lld 4xx, %lld resets; %lld streams "
        "(%lld completed, %lld broken on purpose)\n",
        s.requests, s.ok, s.rateLimited, s.serverErrors, s.clientErrors, s.resets, s.streamsStarted,
        s.streamsCompleted, s.streamsBroken);
    return 0;
}

int runBatch(QCoreApplication &app, CliOptions o)
{
    std::vector<std::unique_ptr<SimulatorHost>> simulators;
    if (o.simulate) {
        if (o.project.endpoints.isEmpty()) {
            // The URLs are the simulators' below.
            o.project.endpoints = {EndpointConfig::simulatedDemo(QUrl(), 0),
                                   EndpointConfig::simulatedDemo(QUrl(), 1)};
            o.applyStreamOptions();
        }
        for (EndpointConfig &e : o.project.endpoints) {
            auto host = std::make_unique<SimulatorHost>(o.sim);
            const auto port = host->listen(0);
            if (!port) {
                printError(QStringLiteral("cannot start the simulator: ") + port.error().message);
                return ExitUsage;
            }
            e.url =
                QUrl(QStringLiteral("http://127.0.0.1:%1%2")
                         .arg(*port)
                         .arg(e.provider == Provider::Anthropic ? QStringLiteral("/v1/messages")
                                                                : QStringLiteral("/v1/chat/completions")));
            e.apiKeyEnv.clear();
            simulators.push_back(std::move(host));
        }
    }
    if (auto valid = o.project.validate(QStringLiteral("project")); !valid) {
        printError(valid.error().message);
        return ExitUsage;
    }

    if (o.dryRun) {
        return printEstimate(o);
    }
    Engine engine(o.project, o.run);
    ProgressPrinter printer(stderr, o.progressIntervalS, o.quiet);
    const auto started = engine.start();
    if (!started) {
        if (started.error().code == Error::Code::UnfinishedRun) {
            printError(started.error().message +
                       QStringLiteral(": add --resume to continue it, --retry-errors to continue it and "
                                      "retry its failures, or --overwrite to start over"));
        } else {
            printError(started.error().message);
        }
        return ExitUsage;
    }
    if (o.run.mode != RunOptions::Mode::Fresh && !o.quiet) {
        const MetricsSnapshot s = engine.snapshot();
        printer.message(QStringLiteral("Resuming %1: %2 lines already have records (%3 results, %4 errors)%5")
                            .arg(engine.journalPath())
                            .arg(s.resumedSucceeded + s.resumedFailed)
                            .arg(s.resumedSucceeded)
                            .arg(s.resumedFailed)
                            .arg(o.run.mode == RunOptions::Mode::RetryErrors
                                     ? QStringLiteral("; failed requests are sent again")
                                     : QString()));
    }
    if (!o.quiet) {
        QStringList names;
        for (const EndpointConfig &e : std::as_const(o.project.endpoints)) {
            names.append(QStringLiteral("%1 (%2, weight %3%4)")
                             .arg(e.name, e.url.toDisplayString(QUrl::RemoveUserInfo | QUrl::RemoveQuery))
                             .arg(e.weight)
                             .arg(e.rpm > 0 ? QStringLiteral(", %1 rpm").arg(e.rpm) : QString()));
        }
        printer.message(QStringLiteral("Sluice %1: %2 -> %3 via %4%5")
                            .arg(QStringLiteral(SLUICE_VERSION),
                                 o.run.isSharded() ? QStringLiteral("%1 (shard %2/%3)")
                                                         .arg(o.run.requestsPath)
                                                         .arg(o.run.shardIndex)
                                                         .arg(o.run.shardCount)
                                                   : o.run.requestsPath,
                                 o.run.outPath, names.join(QStringLiteral(", ")),
                                 o.simulate ? QStringLiteral(" [simulated]") : QString()));
    }

    bool interrupted = false;
    SignalWatcher watcher(&app);
    QObject::connect(&watcher, &SignalWatcher::interrupted, &engine, [&] {
        if (!interrupted) {
            interrupted = true;
            printer.message(
                QStringLiteral("Stopping: waiting for %1 requests in flight (Ctrl-C again to cancel them)")
                    .arg(engine.snapshot().inFlight));
            engine.stop();
        } else {
            engine.abort();
        }
    });
    QObject::connect(&engine, &Engine::notice, &app, [&](const QString &text) {
        if (!o.quiet) {
            printer.message(text);
        }
    });
    QObject::connect(&engine, &Engine::snapshotReady, &app,
                     [&](const MetricsSnapshot &s) { printer.update(s); });
    MetricsSnapshot summary;
    QObject::connect(&engine, &Engine::finished, &app, [&](const MetricsSnapshot &s) {
        summary = s;
        app.quit();
    });
    app.exec();

    printer.printSummary(summary, o.run.outPath, engine.errorsPath());
    if (!o.summaryPath.isEmpty()) {
        nlohmann::json json = summary.toJson();
        json["requests"] = QFileInfo(o.run.requestsPath).absoluteFilePath().toStdString();
        json["results"] = QFileInfo(o.run.outPath).absoluteFilePath().toStdString();
        json["errors"] = QFileInfo(engine.errorsPath()).absoluteFilePath().toStdString();
        QSaveFile file(o.summaryPath);
        const std::string text = json.dump(2) + '\n';
        if (!file.open(QIODevice::WriteOnly) || file.write(text.data(), qint64(text.size())) < 0 ||
            !file.commit()) {
            printError(
                QStringLiteral("%1: cannot write the summary: %2").arg(o.summaryPath, file.errorString()));
        }
    }
    if (!o.historyPath.isEmpty()) {
        if (auto written = Metrics::writeHistoryCsv(o.historyPath, engine.history()); !written) {
            printError(written.error().message);
        }
    }
    if (summary.cost.budgetReached && !interrupted) {
        // The one line an operator (or a script) needs: why it stopped and how to go on.
        std::fprintf(stderr, "budget of %s reached: %lld lines not sent; resume with a larger --max-cost\n",
                     summary.cost.budgetUsd > 0
                         ? qPrintable(QStringLiteral("$%1").arg(summary.cost.budgetUsd))
                         : "the endpoints' max_cost_usd",
                     summary.notStarted);
        return ExitBudget;
    }
    if (interrupted || summary.notStarted > 0) {
        return ExitInterrupted;
    }
    return summary.failed + summary.resumedFailed > 0 ? 1 : 0;
}

int runServe(QCoreApplication &app, const CliOptions &o)
{
    if (auto valid = o.project.validate(QStringLiteral("project")); !valid) {
        printError(valid.error().message);
        return ExitUsage;
    }
    Gateway gateway(o.project, o.gateway);
    const auto port = gateway.start();
    if (!port) {
        printError(port.error().message);
        return ExitUsage;
    }
    QStringList names;
    for (const EndpointConfig &e : std::as_const(o.project.endpoints)) {
        names.append(QStringLiteral("%1 (%2, weight %3%4)")
                         .arg(e.name, e.url.toDisplayString(QUrl::RemoveUserInfo | QUrl::RemoveQuery))
                         .arg(e.weight)
                         .arg(e.rpm > 0 ? QStringLiteral(", %1 rpm").arg(e.rpm) : QString()));
    }
    const QString host = o.gateway.address.protocol() == QAbstractSocket::IPv6Protocol
                             ? QStringLiteral("[%1]").arg(o.gateway.address.toString())
                             : o.gateway.address.toString();
    // The first line is machine-readable on purpose: scripts and tests read the port from it.
    std::fprintf(stderr, "Gateway listening on %s://%s:%u\n", gateway.isTls() ? "https" : "http",
                 qPrintable(host), unsigned(*port));
    std::fprintf(stderr,
                 "Sluice %s gateway -> %s; queue %d, default timeout %g s; caller keys: %s. POST "
                 "/v1/chat/completions, /v1/messages, /v1/messages/count_tokens, /api/v1/completions; GET "
                 "/v1/models, /health, /status, /metrics. Ctrl-C stops.\n",
                 SLUICE_VERSION, qPrintable(names.join(QStringLiteral(", "))), o.gateway.maxQueue,
                 o.gateway.defaultTimeoutS,
                 o.project.gateway.requiresKeys() ? qPrintable(QString::number(o.project.gateway.keys.size()))
                                                  : "none");
    if (!o.gateway.address.isLoopback() && !o.project.gateway.requiresKeys()) {
        std::fprintf(stderr, "Warning: listening beyond loopback without caller keys: anyone who can reach "
                             "the port spends the endpoints' budgets (see gateway.keys in the README).\n");
    }
    std::fflush(stderr);
    QObject::connect(&gateway.engine(), &Engine::notice, &app, [&o](const QString &message) {
        if (!o.quiet) {
            std::fprintf(stderr, "%s\n", qPrintable(message));
        }
    });
    SignalWatcher watcher(&app);
    QObject::connect(&watcher, &SignalWatcher::interrupted, &gateway, [&gateway] { gateway.stop(); });
    QObject::connect(&gateway, &Gateway::stopped, &app, [&app] { app.quit(); });
    app.exec();
    const GatewayCounters c = gateway.counters();
    const MetricsSnapshot s = gateway.snapshot();
    std::fprintf(
        stderr,
        "Gateway stopped: %lld callers accepted, %lld answered, %lld refused (queue full), %lld past "
        "their deadline, %lld left before an answer, %lld refused at a cost budget; %lld attempts upstream, "
        "%lld 429s; $%.4f spent\n",
        c.accepted, c.answered, c.queueFull, c.deadlineQueued + c.deadlineSent, c.goneQueued + c.goneLater,
        c.budgetExhausted, s.issued, s.rateLimited, s.cost.spentUsd);
    return 0;
}

} // namespace

int main(int argc, char *argv[])
{
    // Qt's own poll() event loop instead of GLib's: every thread here (engine, transport workers and
    // their QNAM threads, the gateway's server) lives on cross-thread wake-ups and socket events, and
    // GLib's main-context bookkeeping cost 2.5 % of the gateway's CPU and 15-25 % of its callers/s
    // (tests/bench/gateway-bench.sh). Nothing here needs GLib sources. QT_NO_GLIB set by the caller wins.
    if (!qEnvironmentVariableIsSet("QT_NO_GLIB")) {
        qputenv("QT_NO_GLIB", "1");
    }
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("sluice-cli"));
    QCoreApplication::setApplicationVersion(QStringLiteral(SLUICE_VERSION));
    qRegisterMetaType<Sluice::MetricsSnapshot>();

    auto parsed = parseArguments(QCoreApplication::arguments());
    if (!parsed) {
        printError(parsed.error().message);
        return ExitUsage;
    }
    CliOptions o = std::move(parsed).value();
    switch (o.command) {
    case CliOptions::Command::Help:
        std::fputs(qPrintable(o.helpText), stdout);
        return 0;
    case CliOptions::Command::Version:
        std::printf("sluice-cli %s\nmemory allocator: %s\n", SLUICE_VERSION,
                    qPrintable(allocatorDescription()));
#ifdef SLUICE_CONNECT_CACHE
        std::printf("connect cache: %s\n", qPrintable(ConnectCache::description()));
#else
        std::printf("connect cache: not built\n");
#endif
        return 0;
    case CliOptions::Command::Simulate:
        return runSimulate(app, o);
    case CliOptions::Command::Run:
        return runBatch(app, std::move(o));
    case CliOptions::Command::Serve:
        return runServe(app, o);
    }
    return ExitUsage;
}

#include "main.moc"
