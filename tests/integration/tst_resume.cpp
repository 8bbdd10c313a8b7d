// Crash safety end to end: the real sluice-cli is killed with SIGKILL mid-flight at several points and
// resumed; a stopped run refuses to resume against a changed input or project; --retry-errors runs
// only the failures. A real simulator over loopback, in this process, records every request it gets.

#include "io/journal.h"
#include "runfixture.h"
#include "sim/simulator.h"

#include <QProcess>
#include <QRegularExpression>
#include <QSet>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QTest>

#include <memory>

using namespace Sluice;
using json = nlohmann::json;

namespace {

struct CliRun
{
    int exitCode = -1;
    QString err;
};

/// The lines of an output file that parse, by input line; `torn` counts those that do not.
QHash<qint64, json> recordsByLine(const QString &path, int *torn = nullptr, int *duplicates = nullptr)
{
    QHash<qint64, json> out;
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        return out;
    }
    while (!file.atEnd()) {
        const QByteArray line = file.readLine();
        const json record = json::parse(line.constData(), line.constData() + line.size(), nullptr, false);
        if (!line.endsWith('\n') || !record.is_object() || !record.contains("line")) {
            if (torn) {
                ++*torn;
            }
            continue;
        }
        const qint64 number = record["line"].get<qint64>();
        if (out.contains(number) && duplicates) {
            ++*duplicates;
        }
        out.insert(number, record);
    }
    return out;
}

QString idOf(const QString &text)
{
    static const QRegularExpression id(QStringLiteral("id=(r\\d+)"));
    return id.match(text).captured(1);
}

} // namespace

class tst_Resume : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void killNineAtSeveralPointsThenResume();
    void resumeRefusesAnotherInputOrProject();
    void retryErrorsRunsOnlyTheFailures();

private:
    QString path(const QString &name) const { return m_dir->filePath(name); }
    QStringList runArgs(const QStringList &extra) const;
    CliRun runCli(const QStringList &args, int timeoutMs = 60000);
    /// Starts the CLI, waits until the results hold `records` lines, then SIGKILLs it.
    bool killWhenResultsReach(const QStringList &args, int records);

    std::unique_ptr<QTemporaryDir> m_dir;
    std::unique_ptr<Simulator> m_sim;
};

void tst_Resume::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    SimulatorConfig config;
    config.latencyMs = 40;
    config.jitterMs = 60;
    m_sim = std::make_unique<Simulator>(config);
    QVERIFY(m_sim->listen().ok());
    m_sim->setRecording(true);
}

QStringList tst_Resume::runArgs(const QStringList &extra) const
{
    return QStringList{QStringLiteral("run"),
                       QStringLiteral("--endpoint"),
                       m_sim->chatUrl().toString(),
                       QStringLiteral("--requests"),
                       path(QStringLiteral("in.jsonl")),
                       QStringLiteral("--out"),
                       path(QStringLiteral("out.jsonl")),
                       QStringLiteral("--quiet")} +
           extra;
}

CliRun tst_Resume::runCli(const QStringList &args, int timeoutMs)
{
    CliRun run;
    QProcess process;
    process.start(QStringLiteral(SLUICE_CLI_PATH), args);
    if (!process.waitForStarted()) {
        return run;
    }
    QSignalSpy done(&process, &QProcess::finished);
    if (!done.wait(timeoutMs)) { // spins the event loop: the simulator lives on this thread
        process.kill();
        process.waitForFinished();
        return run;
    }
    run.exitCode = process.exitStatus() == QProcess::NormalExit ? process.exitCode() : -1;
    run.err = QString::fromUtf8(process.readAllStandardError());
    return run;
}

bool tst_Resume::killWhenResultsReach(const QStringList &args, int records)
{
    QProcess process;
    process.start(QStringLiteral(SLUICE_CLI_PATH), args);
    if (!process.waitForStarted()) {
        return false;
    }
    QFile results(path(QStringLiteral("out.jsonl")));
    for (int i = 0; i < 3000 && process.state() == QProcess::Running; ++i) {
        QTest::qWait(5);
        if (results.size() > 0 && recordsByLine(results.fileName()).size() >= records) {
            process.kill(); // SIGKILL: no chance to flush or journal anything more
            process.waitForFinished();
            return process.exitStatus() == QProcess::CrashExit;
        }
    }
    process.kill();
    process.waitForFinished();
    return false;
}

void tst_Resume::killNineAtSeveralPointsThenResume()
{
    constexpr int Lines = 2400;
    QList<json> lines;
    QSet<qint64> clientErrors;
    for (int i = 1; i <= Lines; ++i) {
        QString text = QStringLiteral("id=r%1 tell me something").arg(i);
        if (i % 97 == 0) {
            text.prepend(QStringLiteral("@sim(status=400) "));
            clientErrors.insert(i);
        } else if (i % 53 == 0) {
            text.prepend(QStringLiteral("@sim(status=500,times=1) ")); // retried, then fine
        }
        lines.append(Test::promptLine(QStringLiteral("r%1").arg(i), text));
    }
    QVERIFY(Test::writeJsonl(path(QStringLiteral("in.jsonl")), lines));

    struct Kill
    {
        QSet<QString> inResults; ///< ids with a result on disk when the process died
        qsizetype receivedBefore = 0;
    };
    QList<Kill> kills;
    int killAt = 300;
    for (int k = 0; k < 3; ++k, killAt += 600) {
        const QStringList extra = k == 0 ? QStringList() : QStringList{QStringLiteral("--resume")};
        QVERIFY2(killWhenResultsReach(runArgs(extra), killAt), qPrintable(QStringLiteral("kill %1").arg(k)));
        Kill kill;
        kill.receivedBefore = m_sim->received().size();
        const auto records = recordsByLine(path(QStringLiteral("out.jsonl")));
        for (const json &r : records) {
            kill.inResults.insert(QString::fromStdString(r["custom_id"].get<std::string>()));
        }
        QVERIFY(kill.inResults.size() >= killAt);
        QVERIFY2(kill.inResults.size() < Lines, "the run finished before it could be killed");
        kills.append(kill);
    }

    const CliRun last = runCli(runArgs({QStringLiteral("--resume")}));
    QVERIFY2(last.exitCode == 1, qPrintable(last.err)); // the scripted 400s are in the errors

    int torn = 0;
    int duplicates = 0;
    const auto results = recordsByLine(path(QStringLiteral("out.jsonl")), &torn, &duplicates);
    const auto errors = recordsByLine(path(QStringLiteral("errors.jsonl")), &torn, &duplicates);
    QCOMPARE(torn, 0);
    QCOMPARE(duplicates, 0);
    QCOMPARE(results.size() + errors.size(), Lines);
    for (qint64 line = 1; line <= Lines; ++line) {
        QVERIFY2(results.contains(line) != errors.contains(line),
                 qPrintable(QStringLiteral("line %1 has %2 records")
                                .arg(line)
                                .arg(int(results.contains(line)) + int(errors.contains(line)))));
        QCOMPARE(errors.contains(line), clientErrors.contains(line));
    }

    // No request whose 2xx was recorded is sent again after the crash.
    const QList<Simulator::Received> received = m_sim->received();
    for (const Kill &kill : std::as_const(kills)) {
        for (qsizetype i = kill.receivedBefore; i < received.size(); ++i) {
            const QString id = idOf(received[i].text);
            QVERIFY2(!kill.inResults.contains(id),
                     qPrintable(QStringLiteral("%1 had its result on disk but was sent again").arg(id)));
        }
    }
    // Every result came from a 2xx the simulator really sent.
    QSet<QString> answeredOk;
    for (const Simulator::Received &r : received) {
        if (r.status == 200) {
            answeredOk.insert(idOf(r.text));
        }
    }
    for (const json &r : results) {
        QVERIFY(answeredOk.contains(QString::fromStdString(r["custom_id"].get<std::string>())));
    }
    // The journal ends with a finished checkpoint that accounts for every line.
    const QList<json> journal = Test::readJsonl(Journal::pathFor(path(QStringLiteral("out.jsonl"))));
    QVERIFY(!journal.isEmpty());
    QVERIFY(journal.last().value("finished", false));
    QCOMPARE(journal.last().value("ok", 0) + journal.last().value("failed", 0), Lines);
    QCOMPARE(journal.last().value("failed", 0), clientErrors.size());
    qint64 resumed = 0;
    for (const json &entry : journal) {
        resumed += entry.contains("resumed") ? 1 : 0;
    }
    QCOMPARE(resumed, 3);
}

void tst_Resume::resumeRefusesAnotherInputOrProject()
{
    QList<json> lines;
    for (int i = 1; i <= 400; ++i) {
        lines.append(Test::promptLine(QStringLiteral("r%1").arg(i), QStringLiteral("id=r%1").arg(i)));
    }
    QVERIFY(Test::writeJsonl(path(QStringLiteral("in.jsonl")), lines));
    QVERIFY(killWhenResultsReach(runArgs({QStringLiteral("--rps"), QStringLiteral("100")}), 20));

    // A fresh run does not replace an unfinished one by accident.
    CliRun run = runCli(runArgs({}));
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains(QStringLiteral("holds an unfinished run")) &&
                 run.err.contains(QStringLiteral("--resume")) &&
                 run.err.contains(QStringLiteral("--overwrite")),
             qPrintable(run.err));

    run = runCli(runArgs({QStringLiteral("--resume"), QStringLiteral("--model"), QStringLiteral("other")}));
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains(QStringLiteral("cannot resume: the model override (--model) changed")),
             qPrintable(run.err));

    QFile input(path(QStringLiteral("in.jsonl")));
    QVERIFY(input.open(QIODevice::Append));
    input.write("{\"input\":\"one more\"}\n");
    input.close();
    run = runCli(runArgs({QStringLiteral("--resume")}));
    QCOMPARE(run.exitCode, 2);
    QVERIFY2(run.err.contains(QStringLiteral("cannot resume: the input is not the run's")),
             qPrintable(run.err));

    QVERIFY(input.resize(input.size() - qint64(sizeof("{\"input\":\"one more\"}\n") - 1)));
    run = runCli(runArgs({QStringLiteral("--resume"), QStringLiteral("--rps"), QStringLiteral("1000")}));
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    const auto results = recordsByLine(path(QStringLiteral("out.jsonl")));
    QCOMPARE(results.size(), 400);

    // A finished run may be replaced without ceremony; --overwrite with --resume is a usage error.
    run = runCli(runArgs({QStringLiteral("--resume"), QStringLiteral("--overwrite")}));
    QCOMPARE(run.exitCode, 2);
    QVERIFY(run.err.contains(QStringLiteral("--overwrite starts over")));
    run = runCli(runArgs({}));
    QVERIFY2(run.exitCode == 0, qPrintable(run.err));
    QCOMPARE(recordsByLine(path(QStringLiteral("out.jsonl"))).size(), 400);
}

void tst_Resume::retryErrorsRunsOnlyTheFailures()
{
    QList<json> lines;
    QSet<qint64> flaky;
    for (int i = 1; i <= 60; ++i) {
        if (i == 30) {
            lines.append(json("{\"custom_id\": \"broken\", "));
            continue;
        }
        QString text = QStringLiteral("id=r%1").arg(i);
        if (i % 6 == 0) {
            text.prepend(QStringLiteral("@sim(status=503,times=1) "));
            flaky.insert(i);
        }
        lines.append(Test::promptLine(QStringLiteral("r%1").arg(i), text));
    }
    QVERIFY(Test::writeJsonl(path(QStringLiteral("in.jsonl")), lines));

    CliRun run = runCli(runArgs({QStringLiteral("--max-attempts"), QStringLiteral("1")}));
    QCOMPARE(run.exitCode, 1);
    QCOMPARE(recordsByLine(path(QStringLiteral("errors.jsonl"))).size(), flaky.size() + 1);
    const qsizetype before = m_sim->received().size();

    run = runCli(runArgs({QStringLiteral("--retry-errors")}));
    QVERIFY2(run.exitCode == 1, qPrintable(run.err)); // the broken line stays
    const auto results = recordsByLine(path(QStringLiteral("out.jsonl")));
    const auto errors = recordsByLine(path(QStringLiteral("errors.jsonl")));
    QCOMPARE(results.size(), 59);
    QCOMPARE(errors.size(), 1);
    QVERIFY(errors.contains(30));
    QCOMPARE(QString::fromStdString(errors.value(30)["error_class"].get<std::string>()),
             QStringLiteral("invalid_input"));
    // Only the failed lines were sent again, once each.
    const QList<Simulator::Received> received = m_sim->received();
    QCOMPARE(received.size() - before, flaky.size());
    for (qsizetype i = before; i < received.size(); ++i) {
        const qint64 line = idOf(received[i].text).mid(1).toLongLong();
        QVERIFY2(flaky.contains(line), qPrintable(received[i].text));
        QCOMPARE(received[i].status, 200);
        QCOMPARE(results.value(line)["attempts"].get<int>(), 1);
    }
    QVERIFY(!QFile::exists(Journal::rewritePath(path(QStringLiteral("errors.jsonl")))));
}

QTEST_GUILESS_MAIN(tst_Resume)
#include "tst_resume.moc"
