// Journal and LineSet: the done-set, checkpoints, recovery of torn lines and unjournaled records,
// identity checks, and the --retry-errors split. Real files in a temporary folder.

#include "config/projectconfig.h"
#include "io/journal.h"
#include "io/lineset.h"

#include <QFile>
#include <QTemporaryDir>
#include <QTest>

using namespace Sluice;
using json = nlohmann::json;

namespace {

bool writeFile(const QString &path, const QByteArray &data)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly | QIODevice::Truncate) && f.write(data) == data.size();
}

bool appendFile(const QString &path, const QByteArray &data)
{
    QFile f(path);
    return f.open(QIODevice::WriteOnly | QIODevice::Append) && f.write(data) == data.size();
}

QByteArray readFile(const QString &path)
{
    QFile f(path);
    return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
}

QByteArray resultLine(qint64 line)
{
    return QByteArray::fromStdString(json{{"custom_id", "r" + std::to_string(line)}, {"line", line}}.dump()) +
           '\n';
}

QByteArray errorLine(qint64 line, const char *cls)
{
    return QByteArray::fromStdString(
               json{{"custom_id", "r" + std::to_string(line)}, {"line", line}, {"error_class", cls}}.dump()) +
           '\n';
}

ProjectConfig project(const QString &model = QStringLiteral("m1"))
{
    ProjectConfig p;
    EndpointConfig e =
        EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:9/v1/chat/completions")), 0);
    e.name = QStringLiteral("a");
    e.model = model;
    p.endpoints = {e};
    return p;
}

} // namespace

class TestJournal : public QObject
{
    Q_OBJECT

private:
    QTemporaryDir m_dir;
    QString m_input, m_results, m_errors, m_journal;

    /// A journal with a header for `m_input` and one checkpoint of lines 1..3 (2 ok, 1 failed).
    void writeRun()
    {
        QVERIFY(writeFile(m_input,
                          "{\"input\":\"a\"}\n{\"input\":\"b\"}\n{\"input\":\"c\"}\n{\"input\":\"d\"}\n"));
        QVERIFY(writeFile(m_results, resultLine(1) + resultLine(3)));
        QVERIFY(writeFile(m_errors, errorLine(2, "server")));
        auto id = Journal::identify(m_input, project(), QString());
        QVERIFY(id.ok());
        Journal j;
        QVERIFY(j.create(m_journal, *id, QStringLiteral("run_x"), m_results, m_errors).ok());
        j.markDone(1, true);
        j.markDone(3, true);
        j.markDone(2, false);
        QVERIFY(j.checkpoint(readFile(m_results).size(), readFile(m_errors).size()).ok());
    }

private Q_SLOTS:
    void init()
    {
        QVERIFY(m_dir.isValid());
        m_input = m_dir.filePath(QStringLiteral("in.jsonl"));
        m_results = m_dir.filePath(QStringLiteral("out.jsonl"));
        m_errors = m_dir.filePath(QStringLiteral("errors.jsonl"));
        m_journal = Journal::pathFor(m_results);
        for (const QString &p : {m_input, m_results, m_errors, m_journal, Journal::rewritePath(m_errors)}) {
            QFile::remove(p);
        }
    }

    void lineSet()
    {
        LineSet s;
        QVERIFY(s.isEmpty());
        for (qint64 line : {1, 2, 3, 5, 64, 65, 1000000}) {
            s.insert(line);
        }
        s.insert(2);
        s.insert(0);
        s.insert(-4);
        QCOMPARE(s.size(), 7);
        QVERIFY(s.contains(64) && s.contains(1000000) && !s.contains(4) && !s.contains(0));
        s.erase(3);
        s.erase(3);
        s.erase(999);
        QCOMPARE(s.size(), 6);
        const auto r = s.ranges();
        QCOMPARE(int(r.size()), 4);
        QCOMPARE(r[0].first, 1);
        QCOMPARE(r[0].second, 2);
        QCOMPARE(r[2].first, 64);
        QCOMPARE(r[2].second, 65);
        QCOMPARE(r[3].first, 1000000);
    }

    void toRanges()
    {
        QCOMPARE(QString::fromStdString(Journal::toRanges({7, 1, 2, 3, 5, 3}).dump()),
                 QStringLiteral("[[1,3],[5,5],[7,7]]"));
        QCOMPARE(QString::fromStdString(Journal::toRanges({}).dump()), QStringLiteral("[]"));
    }

    void roundTrip()
    {
        writeRun();
        auto state = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY2(state.ok(), qPrintable(state.ok() ? QString() : state.error().message));
        QCOMPARE(state->runId, QStringLiteral("run_x"));
        QCOMPARE(state->done.size(), 3);
        QVERIFY(state->done.contains(2) && !state->done.contains(4));
        QCOMPARE(state->ok, 2);
        QCOMPARE(state->failed, 1);
        QCOMPARE(state->recovered, 0);
        QCOMPARE(state->tornLines, 0);
        QVERIFY(!state->finished);
        QVERIFY(Journal::unfinishedRun(m_journal));
    }

    void finishedRunIsNotUnfinished()
    {
        writeRun();
        Journal j;
        QVERIFY(j.openAppend(m_journal).ok());
        j.setTotals(2, 1);
        QVERIFY(
            j.checkpoint(readFile(m_results).size(), readFile(m_errors).size(), {{"finished", true}}).ok());
        qint64 done = -1;
        QVERIFY(!Journal::unfinishedRun(m_journal, &done));
        QVERIFY(!Journal::unfinishedRun(m_dir.filePath(QStringLiteral("nothing.journal"))));
        auto state = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY(state.ok() && state->finished);
    }

    void recoversRecordsPastTheCheckpointAndCutsTornLines()
    {
        writeRun();
        // Written after the last checkpoint: one whole record each, then a torn one in the results.
        QVERIFY(appendFile(m_results, resultLine(4) + QByteArray("{\"custom_id\":\"r5\",\"li")));
        QVERIFY(appendFile(m_errors, errorLine(6, "client")));
        QVERIFY(appendFile(m_journal, "{\"done\":[[9,9]],\"ok\":"));
        const qint64 wholeResults = (resultLine(1) + resultLine(3) + resultLine(4)).size();
        auto state = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY2(state.ok(), qPrintable(state.ok() ? QString() : state.error().message));
        QCOMPARE(state->tornLines, 2);
        QCOMPARE(state->recovered, 2);
        QVERIFY(state->done.contains(4) && state->done.contains(6) && !state->done.contains(5) &&
                !state->done.contains(9));
        QCOMPARE(state->ok, 3);
        QCOMPARE(state->failed, 2);
        QCOMPARE(int(state->recoveredLines.size()), 2);
        QCOMPARE(state->resultsBytes, wholeResults);
        QCOMPARE(readFile(m_results).size(), wholeResults);
        QVERIFY(readFile(m_results).endsWith('\n'));
        QVERIFY(readFile(m_journal).endsWith("}\n"));
        // Recovering again finds nothing new: the repair is stable.
        auto again = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY(again.ok());
        QCOMPARE(again->tornLines, 0);
    }

    void refusesTruncatedOutputs()
    {
        writeRun();
        QVERIFY(writeFile(m_results, resultLine(1)));
        auto state = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY(!state.ok());
        QVERIFY2(state.error().message.contains(QStringLiteral("is shorter")),
                 qPrintable(state.error().message));
        QVERIFY(state.error().message.contains(m_results));
        QFile::remove(m_results);
        state = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY(!state.ok());
        QVERIFY(state.error().message.contains(QStringLiteral("is missing")));
    }

    void refusesDamagedJournals()
    {
        auto state = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY(!state.ok());
        QVERIFY2(state.error().message.contains(QStringLiteral("no journal")),
                 qPrintable(state.error().message));

        writeRun();
        QVERIFY(appendFile(m_journal, "garbage\n{\"done\":[],\"ok\":2,\"failed\":1}\n"));
        state = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY(!state.ok());
        QVERIFY2(
            state.error().message.contains(QStringLiteral("out.jsonl.journal:3: the journal is damaged")),
            qPrintable(state.error().message));

        QVERIFY(writeFile(m_journal, "{\"something\":1}\n"));
        state = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY(!state.ok());
        QVERIFY(state.error().message.contains(QStringLiteral("not a Sluice journal")));
    }

    void refusesADamagedRecordBeforeTheEnd()
    {
        writeRun();
        QVERIFY(appendFile(m_results, "not json\n" + resultLine(4)));
        auto state = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY(!state.ok());
        QVERIFY2(state.error().message.contains(QStringLiteral("a damaged record at byte")),
                 qPrintable(state.error().message));
    }

    void identityAllowsTuningButNotNewContent()
    {
        writeRun();
        auto header = Journal::readHeader(m_journal);
        QVERIFY(header.ok());
        // Tuning: weights, limits, URLs may change.
        ProjectConfig tuned = project();
        tuned.endpoints[0].weight = 5;
        tuned.endpoints[0].rpm = 100;
        tuned.endpoints[0].maxInFlight = 3;
        tuned.endpoints[0].url = QUrl(QStringLiteral("http://127.0.0.1:10/v1/chat/completions"));
        auto id = Journal::identify(m_input, tuned, QString());
        QVERIFY(id.ok());
        QCOMPARE(Journal::mismatch(*header, *id), QString());

        auto other = Journal::identify(m_input, project(QStringLiteral("m2")), QString());
        QString why = Journal::mismatch(*header, *other);
        QVERIFY2(why.contains(QStringLiteral("endpoint 1 \"a\" model was \"m1\", is now \"m2\"")),
                 qPrintable(why));

        ProjectConfig two = project();
        two.endpoints.append(two.endpoints.first());
        two.endpoints[1].name = QStringLiteral("b");
        why = Journal::mismatch(*header, *Journal::identify(m_input, two, QString()));
        QVERIFY2(why.contains(QStringLiteral("the run had 1 (a), the project has 2 (a, b)")),
                 qPrintable(why));

        why = Journal::mismatch(*header, *Journal::identify(m_input, project(), QStringLiteral("gpt-x")));
        QVERIFY2(why.contains(QStringLiteral("--model")), qPrintable(why));

        QVERIFY(appendFile(m_input, "{\"input\":\"e\"}\n"));
        why = Journal::mismatch(*header, *Journal::identify(m_input, project(), QString()));
        QVERIFY2(why.contains(QStringLiteral("the input is not the run's")) &&
                     why.contains(QStringLiteral("bytes")),
                 qPrintable(why));

        // Same size, one byte different.
        QByteArray content = readFile(m_input);
        content.chop(14); // the appended line
        content[2] = 'X';
        QVERIFY(writeFile(m_input, content));
        why = Journal::mismatch(*header, *Journal::identify(m_input, project(), QString()));
        QVERIFY2(why.contains(QStringLiteral("different content")), qPrintable(why));
    }

    void largeInputsAreSampled()
    {
        // Sparse: 80 MiB of zeros costs no disk.
        QFile f(m_input);
        QVERIFY(f.open(QIODevice::WriteOnly));
        QVERIFY(f.resize(80LL * 1024 * 1024));
        f.close();
        auto a = Journal::identify(m_input, project(), QString());
        QVERIFY(a.ok());
        QVERIFY(a->inputFingerprint.startsWith(QStringLiteral("sha256-sampled:")));
        QVERIFY(f.open(QIODevice::ReadWrite));
        f.seek(100);
        f.write("x");
        f.close();
        auto b = Journal::identify(m_input, project(), QString());
        QVERIFY(b->inputFingerprint != a->inputFingerprint);
        QCOMPARE(b->inputSize, a->inputSize);
    }

    void prepareRetrySplitsTheErrors()
    {
        QVERIFY(writeFile(m_errors, errorLine(2, "server") + errorLine(4, "invalid_input") +
                                        errorLine(5, "timeout") + errorLine(7, "duplicate_id")));
        qint64 keptBytes = 0, keptRecords = 0;
        auto retry = Journal::prepareRetry(m_errors, &keptBytes, &keptRecords);
        QVERIFY(retry.ok());
        QCOMPARE(retry->size(), 2);
        QVERIFY(retry->contains(2) && retry->contains(5));
        QCOMPARE(keptRecords, 2);
        const QByteArray kept = readFile(Journal::rewritePath(m_errors));
        QCOMPARE(kept, errorLine(4, "invalid_input") + errorLine(7, "duplicate_id"));
        QCOMPARE(keptBytes, kept.size());

        QVERIFY(writeFile(m_errors, errorLine(2, "server") + "{oops\n"));
        retry = Journal::prepareRetry(m_errors, &keptBytes, &keptRecords);
        QVERIFY(!retry.ok());
        QVERIFY2(retry.error().message.contains(QStringLiteral("errors.jsonl:2: not an error record")),
                 qPrintable(retry.error().message));
    }

    void interruptedRewriteIsFinishedOnlyWhenJournaled()
    {
        writeRun();
        // The rewrite was prepared but not journaled: it is dropped, the errors file stays.
        QVERIFY(writeFile(Journal::rewritePath(m_errors), QByteArray()));
        auto state = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY(state.ok());
        QVERIFY(!QFile::exists(Journal::rewritePath(m_errors)));
        QCOMPARE(readFile(m_errors), errorLine(2, "server"));
        QVERIFY(state->done.contains(2));

        // Journaled (line 2 reopened, errors now empty) but the rename did not happen: recover does it.
        QVERIFY(writeFile(Journal::rewritePath(m_errors), QByteArray()));
        Journal j;
        QVERIFY(j.openAppend(m_journal).ok());
        j.setTotals(2, 0);
        QVERIFY(j.checkpoint(readFile(m_results).size(), 0,
                             {{"reopen", json::array({json::array({2, 2})})}, {"errors_rewrite", true}})
                    .ok());
        state = Journal::recover(m_journal, m_results, m_errors);
        QVERIFY2(state.ok(), qPrintable(state.ok() ? QString() : state.error().message));
        QVERIFY(!QFile::exists(Journal::rewritePath(m_errors)));
        QCOMPARE(readFile(m_errors), QByteArray());
        QVERIFY(!state->done.contains(2));
        QCOMPARE(state->done.size(), 2);
        QCOMPARE(state->failed, 0);
    }
};

QTEST_GUILESS_MAIN(TestJournal)
#include "tst_journal.moc"
