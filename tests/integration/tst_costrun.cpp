// Cost end to end: the real sluice-cli against the project's simulator over loopback (port 0). A run
// stops at its budget with exit status 3 and one clear line, leaves the unsent lines without a record,
// and `--resume --max-cost` (larger) ends every line exactly once; `--dry-run` sends nothing and its
// range brackets what the demo run then costs.

#include "runfixture.h"
#include "sim/simulator.h"

#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <cmath>

#include <memory>

using namespace Sluice;
using json = nlohmann::json;

namespace {

struct CliRun
{
    int exitCode = -1;
    QString out;
    QString err;
};

} // namespace

class tst_CostRun : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void budgetStopsThenResumeEndsEveryLineOnce();
    void dryRunBracketsTheDemoRun();

private:
    CliRun runCli(const QStringList &args, int timeoutMs = 120000);
    QString path(const QString &name) const { return m_dir->filePath(name); }
    bool writeProject(quint16 portA, quint16 portB);

    std::unique_ptr<QTemporaryDir> m_dir;
};

void tst_CostRun::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

CliRun tst_CostRun::runCli(const QStringList &args, int timeoutMs)
{
    CliRun run;
    QProcess process;
    process.start(QStringLiteral(SLUICE_CLI_PATH), args);
    if (!process.waitForStarted()) {
        return run;
    }
    QSignalSpy done(&process, &QProcess::finished); // the simulators live on this thread
    if (!done.wait(timeoutMs)) {
        process.kill();
        process.waitForFinished();
        return run;
    }
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    run.out = QString::fromUtf8(process.readAllStandardOutput());
    run.err = QString::fromUtf8(process.readAllStandardError());
    return run;
}

bool tst_CostRun::writeProject(quint16 portA, quint16 portB)
{
    // Two endpoints at different prices (the project's own, not the table's).
    const json project = {{"endpoints",
                           {{{"name", "cheap"},
                             {"url", "http://127.0.0.1:" + std::to_string(portA) + "/v1/chat/completions"},
                             {"model", "house-small"},
                             {"max_in_flight", 8},
                             {"price", {{"input_per_mtok", 2.0}, {"output_per_mtok", 8.0}}}},
                            {{"name", "dear"},
                             {"url", "http://127.0.0.1:" + std::to_string(portB) + "/v1/chat/completions"},
                             {"model", "house-large"},
                             {"max_in_flight", 8},
                             {"price", {{"input_per_mtok", 5.0}, {"output_per_mtok", 20.0}}}}}},
                          {"limits", {{"max_attempts", 8}, {"backoff_base_ms", 10}, {"backoff_max_ms", 50}}}};
    QFile file(path(QStringLiteral("project.json")));
    const std::string text = project.dump(2);
    return file.open(QIODevice::WriteOnly) && file.write(text.data(), qint64(text.size())) > 0;
}

void tst_CostRun::budgetStopsThenResumeEndsEveryLineOnce()
{
    SimulatorConfig config;
    config.latencyMs = 2;
    config.jitterMs = 5;
    config.errorRate = 0.1;
    Simulator a(config);
    Simulator b(config);
    const auto portA = a.listen(0);
    const auto portB = b.listen(0);
    QVERIFY(portA && portB);
    QVERIFY(writeProject(*portA, *portB));
    const int n = 400;
    QList<json> lines;
    for (int i = 1; i <= n; ++i) {
        lines.append(
            json{{"custom_id", "c" + std::to_string(i)},
                 {"messages", {{{"role", "user"}, {"content", "Tell me about sluice " + std::to_string(i)}}}},
                 {"max_tokens", 200}});
    }
    QVERIFY(Test::writeJsonl(path(QStringLiteral("requests.jsonl")), lines));
    const QStringList common{QStringLiteral("run"),
                             QStringLiteral("--project"),
                             path(QStringLiteral("project.json")),
                             QStringLiteral("--requests"),
                             path(QStringLiteral("requests.jsonl")),
                             QStringLiteral("--out"),
                             path(QStringLiteral("results.jsonl")),
                             QStringLiteral("--quiet")};

    // Each request's worst case is about (80 input + 200 output) tokens: 1.8 to 4.4 milli-dollars,
    // its actual cost a tenth of that; $0.02 covers some of the 400 lines, not all.
    const CliRun first =
        runCli(common + QStringList{QStringLiteral("--max-cost"), QStringLiteral("0.02"),
                                    QStringLiteral("--summary"), path(QStringLiteral("s1.json"))});
    QCOMPARE(first.exitCode, 3);
    // The one line an operator gets at the budget: how many lines are left; -1 when it is not there.
    const auto notSent = [](const QString &err, const QString &budget) {
        const QRegularExpression line(QStringLiteral("budget of \\$%1 reached: (\\d+) lines not sent; resume "
                                                     "with a larger --max-cost")
                                          .arg(QRegularExpression::escape(budget)));
        const auto match = line.match(err);
        return match.hasMatch() ? match.captured(1).toLongLong() : -1;
    };
    const qint64 unsent = notSent(first.err, QStringLiteral("0.02"));
    QVERIFY2(unsent >= 0, qPrintable(first.err));
    QVERIFY(unsent > 0 && unsent < n);
    const json s1 = Test::readJsonFile(path(QStringLiteral("s1.json")));
    QVERIFY(s1.is_object());
    const double spent1 = s1.at("cost_usd").at("spent").get<double>();
    qInfo("first session: $%.6f spent of $0.02, %lld lines not sent", spent1, unsent);
    QVERIFY(spent1 <= 0.02 + 1e-9);
    QVERIFY(s1.at("cost_usd").at("budget_reached").get<bool>());
    const QList<json> results1 = Test::readJsonl(path(QStringLiteral("results.jsonl")));
    const QList<json> errors1 = Test::readJsonl(path(QStringLiteral("errors.jsonl")));
    QCOMPARE(qint64(results1.size() + errors1.size()) + unsent, qint64(n));
    double recorded = 0;
    for (const json &r : results1) {
        QVERIFY2(r.at("cost_usd").is_number(), r.dump().c_str());
        recorded += r.at("cost_usd").get<double>();
    }
    QVERIFY(recorded <= spent1 + 1e-6);
    for (const json &e : errors1) {
        QVERIFY2(e.dump().find("budget") == std::string::npos, e.dump().c_str()); // no record for unsent
    }

    // The budget is the run's, all sessions: a resume raising it to $0.03 may spend about $0.01 more,
    // not $0.03 more, and stops again with lines unsent.
    const CliRun second = runCli(
        common + QStringList{QStringLiteral("--resume"), QStringLiteral("--max-cost"), QStringLiteral("0.03"),
                             QStringLiteral("--summary"), path(QStringLiteral("s2.json"))});
    QCOMPARE(second.exitCode, 3);
    const json c2 = Test::readJsonFile(path(QStringLiteral("s2.json"))).at("cost_usd");
    const double earlier2 = c2.at("spent_earlier").get<double>();
    const double spent2 = c2.at("spent").get<double>();
    qInfo("second session: $%.6f spent after $%.6f earlier, of $0.03", spent2, earlier2);
    QVERIFY2(std::abs(earlier2 - spent1) < 1e-6, qPrintable(QString::number(earlier2)));
    QVERIFY(spent2 > 0);
    QVERIFY(earlier2 + spent2 <= 0.03 + 1e-9);
    const qint64 unsent2 = notSent(second.err, QStringLiteral("0.03"));
    QVERIFY2(unsent2 > 0 && unsent2 < unsent, qPrintable(second.err));

    const CliRun third = runCli(
        common + QStringList{QStringLiteral("--resume"), QStringLiteral("--max-cost"), QStringLiteral("5")});
    QVERIFY2(third.exitCode == 0 || third.exitCode == 1, qPrintable(third.err));
    QSet<QString> seen;
    for (const QString &file : {QStringLiteral("results.jsonl"), QStringLiteral("errors.jsonl")}) {
        for (const json &record : Test::readJsonl(path(file))) {
            const QString id = QString::fromStdString(record.at("custom_id").get<std::string>());
            QVERIFY2(!seen.contains(id), qPrintable(id + QStringLiteral(" twice")));
            seen.insert(id);
        }
    }
    QCOMPARE(seen.size(), n);
}

void tst_CostRun::dryRunBracketsTheDemoRun()
{
    const QStringList common{QStringLiteral("run"),
                             QStringLiteral("--simulate"),
                             QStringLiteral("--project"),
                             QStringLiteral(SLUICE_SOURCE_DIR "/resources/examples/demo-project.json"),
                             QStringLiteral("--requests"),
                             QStringLiteral(SLUICE_SOURCE_DIR "/resources/examples/demo.jsonl"),
                             QStringLiteral("--out"),
                             path(QStringLiteral("demo.jsonl")),
                             QStringLiteral("--quiet")};
    const CliRun dry = runCli(common + QStringList{QStringLiteral("--dry-run"), QStringLiteral("--summary"),
                                                   path(QStringLiteral("estimate.json"))});
    QCOMPARE(dry.exitCode, 0);
    QVERIFY2(dry.out.contains(QStringLiteral("Estimated cost: $")), qPrintable(dry.out));
    QVERIFY(dry.out.contains(QStringLiteral("primary: 75% of the lines")));
    QVERIFY(!QFile::exists(path(QStringLiteral("demo.jsonl")))); // nothing was sent, nothing written
    const json estimate = Test::readJsonFile(path(QStringLiteral("estimate.json"))).at("estimate");
    const double low = estimate.at("low_usd").get<double>();
    const double high = estimate.at("high_usd").get<double>();
    QCOMPARE(estimate.at("unpriced_lines").get<qint64>(), qint64(0));
    QCOMPARE(estimate.at("endpoints").size(), std::size_t(2));

    const CliRun run =
        runCli(common + QStringList{QStringLiteral("--summary"), path(QStringLiteral("summary.json"))});
    QCOMPARE(run.exitCode, 0);
    const json summary = Test::readJsonFile(path(QStringLiteral("summary.json")));
    const double spent = summary.at("cost_usd").at("spent").get<double>();
    qInfo("demo run: estimate $%.6f to $%.6f, actual $%.6f", low, high, spent);
    QCOMPARE(summary.at("cost_usd").at("unpriced_replies").get<qint64>(), qint64(0));
    QVERIFY(spent > 0);
    QVERIFY2(low <= spent && spent <= high,
             qPrintable(QStringLiteral("%1 <= %2 <= %3").arg(low).arg(spent).arg(high)));
}

QTEST_GUILESS_MAIN(tst_CostRun)
#include "tst_costrun.moc"
