// The real main window under QT_QPA_PLATFORM=offscreen, against a real simulator over loopback.

#include "charts/livecharts.h"
#include "mainwindow.h"
#include "models/endpointtablemodel.h"
#include "models/errorgroupsmodel.h"
#include "rawhttp.h"
#include "runfixture.h"
#include "sim/simulator.h"

#include <QAbstractItemModelTester>
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFileInfo>
#include <QListWidget>
#include <QLocale>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QTcpSocket>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <memory>

using namespace Sluice;
using namespace Sluice::Gui;
using json = nlohmann::json;

class tst_MainWindow : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void loadsAFileWithBadLines();
    void runsEditsExportsAndSaves();
    void pauseAndResume();
    void stoppedRunResumesAfterReopening();
    void unattendedRunNeverAsks();
    void tryItRunsTheDemo();
    void gatewayServesAndFeedsTheCharts();

private:
    QString writeLines(int count, const QString &name, int badEvery = 0);
    /// Runs `requests` against `endpoint` and stops after some results: an interrupted run.
    /// Returns how many requests reached the simulator, -1 on failure.
    qint64 interruptRun(const Simulator &sim, const EndpointConfig &endpoint, const QString &requests);
    std::unique_ptr<QTemporaryDir> m_dir;
};

void tst_MainWindow::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true); // QSettings and app data go to a test location
    QApplication::setApplicationName(QStringLiteral("sluice-tests"));
}

void tst_MainWindow::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

QString tst_MainWindow::writeLines(int count, const QString &name, int badEvery)
{
    QList<json> lines;
    for (int i = 1; i <= count; ++i) {
        if (badEvery > 0 && i % badEvery == 0) {
            lines.append(json("{broken line " + std::to_string(i)));
        } else {
            lines.append(
                json{{"custom_id", "w" + std::to_string(i)}, {"input", "window " + std::to_string(i)}});
        }
    }
    const QString path = m_dir->filePath(name);
    return Test::writeJsonl(path, lines) ? path : QString();
}

void tst_MainWindow::loadsAFileWithBadLines()
{
    MainWindow window;
    QAbstractItemModelTester tester(window.endpointModel(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    QSignalSpy preflight(&window, &MainWindow::preflightFinished);
    QVERIFY(window.openRequests(writeLines(50, QStringLiteral("bad.jsonl"), 10)));
    QVERIFY(preflight.wait(10000));
    QCOMPARE(window.preflight().requests, 45);
    QCOMPARE(window.preflight().invalid, 5);
    auto *list = window.findChild<QListWidget *>(QStringLiteral("invalidLines"));
    QVERIFY(list);
    QCOMPARE(list->count(), 5);
    QVERIFY(list->item(0)->text().contains(QStringLiteral("bad.jsonl:10:")));
    QCOMPARE(list->item(0)->data(Qt::UserRole).toLongLong(), 10);
}

void tst_MainWindow::runsEditsExportsAndSaves()
{
    SimulatorConfig config;
    config.latencyMs = 5;
    Simulator a(config);
    Simulator b(config);
    QVERIFY(a.listen());
    QVERIFY(b.listen());

    MainWindow window;
    window.show();
    QAbstractItemModelTester tester(window.endpointModel(),
                                    QAbstractItemModelTester::FailureReportingMode::QtTest);
    QAbstractItemModelTester errorTester(window.errorModel(),
                                         QAbstractItemModelTester::FailureReportingMode::QtTest);
    EndpointConfig ea = EndpointConfig::fromUrl(a.chatUrl(), 0);
    ea.name = QStringLiteral("a");
    EndpointConfig eb = EndpointConfig::fromUrl(b.chatUrl(), 1);
    eb.name = QStringLiteral("b");
    window.endpointModel()->setEndpoints({ea, eb});

    // Edit a weight through the model, as the spin box does.
    EndpointTableModel *model = window.endpointModel();
    QVERIFY(model->setData(model->index(0, EndpointTableModel::Weight), 3.0, Qt::EditRole));
    QCOMPARE(model->endpoints().at(0).weight, 3.0);

    QSignalSpy preflight(&window, &MainWindow::preflightFinished);
    QVERIFY(window.openRequests(writeLines(400, QStringLiteral("batch.jsonl"), 100)));
    QVERIFY(preflight.wait(10000));
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.run();
    QVERIFY(finished.wait(60000));

    const MetricsSnapshot &s = window.lastSnapshot();
    QCOMPARE(s.succeeded, 396);
    QCOMPARE(s.failed, 4);
    QCOMPARE(a.stats().requests + b.stats().requests, 396);
    QVERIFY2(std::abs(double(a.stats().requests) / 396.0 - 0.75) < 0.03, "weights 3:1 give 75 %");
    QVERIFY(window.charts()->pointCount(LiveCharts::Series::Issued) > 0);
    QCOMPARE(window.errorModel()->recordCount(), 4);
    QCOMPARE(model->data(model->index(0, EndpointTableModel::Ok)).toString(), QString::number(a.stats().ok));

    // Export each format and check the files.
    const QList<QPair<MainWindow::Export, QString>> exports = {
        {MainWindow::Export::ResultsJsonl, QStringLiteral("r.jsonl")},
        {MainWindow::Export::ResultsCsv, QStringLiteral("r.csv")},
        {MainWindow::Export::ErrorsJsonl, QStringLiteral("e.jsonl")},
        {MainWindow::Export::ErrorsCsv, QStringLiteral("e.csv")},
        {MainWindow::Export::HistoryCsv, QStringLiteral("h.csv")},
        {MainWindow::Export::ChartsPng, QStringLiteral("c.png")},
        {MainWindow::Export::ReportHtml, QStringLiteral("report.html")},
    };
    for (const auto &[kind, name] : exports) {
        QVERIFY2(window.exportTo(kind, m_dir->filePath(name)), qPrintable(name));
    }
    QCOMPARE(Test::readJsonl(m_dir->filePath(QStringLiteral("r.jsonl"))).size(), 396);
    QCOMPARE(Test::readJsonl(m_dir->filePath(QStringLiteral("e.jsonl"))).size(), 4);
    const auto lines = [this](const QString &name) {
        QFile f(m_dir->filePath(name));
        return f.open(QIODevice::ReadOnly) ? f.readAll().trimmed().split('\n') : QList<QByteArray>();
    };
    QCOMPARE(lines(QStringLiteral("r.csv")).size(), 397); // header + rows
    QCOMPARE(lines(QStringLiteral("e.csv")).size(), 5);
    QVERIFY(lines(QStringLiteral("h.csv")).first().startsWith("second,issued,finished"));
    QImage png(m_dir->filePath(QStringLiteral("c.png")));
    QVERIFY(!png.isNull());
    const QByteArray html = lines(QStringLiteral("report.html")).join('\n');
    QVERIFY(html.contains("data:image/png;base64,"));
    QVERIFY(html.contains(">a<") || html.contains(">a "));

    // Save and load the project.
    const QString projectPath = m_dir->filePath(QStringLiteral("project.json"));
    QVERIFY(window.saveProject(projectPath));
    MainWindow other;
    QVERIFY(other.openProject(projectPath));
    QCOMPARE(other.endpointModel()->endpoints().size(), 2);
    QCOMPARE(other.endpointModel()->endpoints().at(0).weight, 3.0);
    QCOMPARE(other.endpointModel()->endpoints().at(1).url, b.chatUrl());

    // The finished run, as a test artifact.
    QDir().mkpath(QStringLiteral(SLUICE_ARTIFACT_DIR));
    QVERIFY(window.grab().save(QStringLiteral(SLUICE_ARTIFACT_DIR "/mainwindow-finished.png")));
}

void tst_MainWindow::pauseAndResume()
{
    SimulatorConfig config;
    config.latencyMs = 20;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    e.rpm = 3000; // 50/s: the run lasts a few seconds
    window.endpointModel()->setEndpoints({e});
    QSignalSpy preflight(&window, &MainWindow::preflightFinished);
    QVERIFY(window.openRequests(writeLines(200, QStringLiteral("slow.jsonl"))));
    QVERIFY(preflight.wait(10000));
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.run();
    QTRY_VERIFY_WITH_TIMEOUT(sim.stats().ok >= 20, 10000);
    window.pause();
    QTRY_VERIFY_WITH_TIMEOUT(window.runState() == RunState::Paused, 5000);
    // Proving that nothing is sent while paused needs time to pass: the engine keeps reporting every
    // 250 ms, and its count of sends must not move between two reports taken while paused.
    QTest::qWait(300);
    const qint64 issuedWhilePaused = window.lastSnapshot().issued;
    QTest::qWait(600);
    QCOMPARE(window.lastSnapshot().issued, issuedWhilePaused);
    QVERIFY(window.lastSnapshot().succeeded < 200);
    window.resume();
    QVERIFY(finished.wait(30000));
    QCOMPARE(window.lastSnapshot().succeeded, 200);
}

qint64 tst_MainWindow::interruptRun(const Simulator &sim, const EndpointConfig &endpoint,
                                    const QString &requests)
{
    MainWindow window;
    window.endpointModel()->setEndpoints({endpoint});
    QSignalSpy preflight(&window, &MainWindow::preflightFinished);
    if (!window.openRequests(requests) || !preflight.wait(10000)) {
        return -1;
    }
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.run();
    if (!QTest::qWaitFor([&] { return sim.stats().ok >= 30; }, 10000)) {
        return -1;
    }
    window.stop();
    if (!finished.wait(10000) || window.lastSnapshot().notStarted <= 0) {
        return -1;
    }
    return sim.stats().requests;
}

void tst_MainWindow::stoppedRunResumesAfterReopening()
{
    SimulatorConfig config;
    config.latencyMs = 20;
    Simulator sim(config);
    QVERIFY(sim.listen());
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    e.rpm = 3000;
    const QString requests = writeLines(200, QStringLiteral("resumable.jsonl"));
    const qint64 sentBefore = interruptRun(sim, e, requests);
    QVERIFY(sentBefore > 0);
    QVERIFY(sentBefore < 200);

    // Reopened: Run finds the interrupted run and asks; the operator picks Resume.
    MainWindow window;
    window.endpointModel()->setEndpoints({e});
    QSignalSpy preflight(&window, &MainWindow::preflightFinished);
    QVERIFY(window.openRequests(requests));
    QVERIFY(preflight.wait(10000));
    const QString results = window.resultsPath();
    const QString errors = window.errorsPath();
    QString question;
    QTimer answer;
    connect(&answer, &QTimer::timeout, &answer, [&] {
        auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget());
        if (!box) {
            return;
        }
        question = box->text();
        for (QAbstractButton *button : box->buttons()) {
            if (button->text() == QStringLiteral("&Resume")) {
                answer.stop();
                button->click();
                return;
            }
        }
    });
    answer.start(20);
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.run();
    QVERIFY2(question.contains(QStringLiteral("interrupted")), qPrintable(question));
    QVERIFY(finished.wait(30000));
    QCOMPARE(window.lastSnapshot().resumedSucceeded, sentBefore);
    QCOMPARE(window.lastSnapshot().succeeded + window.lastSnapshot().resumedSucceeded, 200);
    // Nothing was sent twice: the stop waited for the requests in flight, the resume sent the rest.
    QCOMPARE(sim.stats().requests, 200);
    const QList<json> records = Test::readJsonl(results);
    QSet<qint64> lines;
    for (const json &r : records) {
        lines.insert(r["line"].get<qint64>());
    }
    QCOMPARE(records.size(), 200);
    QCOMPARE(lines.size(), 200);
    QVERIFY(Test::readJsonl(errors).isEmpty());
}

void tst_MainWindow::unattendedRunNeverAsks()
{
    SimulatorConfig config;
    config.latencyMs = 20;
    Simulator sim(config);
    QVERIFY(sim.listen());
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    e.rpm = 3000;
    const QString requests = writeLines(200, QStringLiteral("scripted.jsonl"));
    const qint64 sentBefore = interruptRun(sim, e, requests);
    QVERIFY(sentBefore > 0);

    // `sluice --run` has nobody to answer a dialog: any that opens fails the test (and is closed).
    QString dialog;
    QTimer watch;
    connect(&watch, &QTimer::timeout, &watch, [&] {
        if (QWidget *modal = QApplication::activeModalWidget()) {
            auto *box = qobject_cast<QMessageBox *>(modal);
            dialog = box ? box->text() : modal->objectName();
            modal->close();
        }
    });
    watch.start(20);

    MainWindow window;
    window.setUnattended(MainWindow::Unattended::Refuse);
    window.endpointModel()->setEndpoints({e});
    QSignalSpy preflight(&window, &MainWindow::preflightFinished);
    QVERIFY(window.openRequests(requests));
    QVERIFY(preflight.wait(10000));
    QSignalSpy refused(&window, &MainWindow::runRefused);
    window.run();
    QCOMPARE(refused.count(), 1);
    const QString reason = refused.at(0).at(0).toString();
    QVERIFY2(reason.contains(QStringLiteral("unfinished run")) && reason.contains(QStringLiteral("--resume")),
             qPrintable(reason));
    QVERIFY(window.runState() == RunState::Idle);
    QCOMPARE(sim.stats().requests, sentBefore); // nothing was sent, nothing was replaced
    QVERIFY(QFileInfo(window.resultsPath()).size() > 0);

    // An invalid project is refused the same way, not in a dialog.
    window.endpointModel()->setEndpoints({});
    window.run();
    QCOMPARE(refused.count(), 2);
    QVERIFY2(!refused.at(1).at(0).toString().isEmpty(), "empty reason");
    window.endpointModel()->setEndpoints({e});

    // With --resume the same window continues the run without asking. The engine starts on its own
    // thread: a start-up failure there (a key variable that is not set) comes back the same way.
    window.setUnattended(MainWindow::Unattended::Resume);
    qunsetenv("SLUICE_TEST_UNSET_KEY");
    EndpointConfig keyed = e;
    keyed.apiKeyEnv = QStringLiteral("SLUICE_TEST_UNSET_KEY");
    window.endpointModel()->setEndpoints({keyed});
    window.run();
    QTRY_COMPARE_WITH_TIMEOUT(refused.count(), 3, 10000);
    QVERIFY2(refused.at(2).at(0).toString().contains(QStringLiteral("SLUICE_TEST_UNSET_KEY")),
             qPrintable(refused.at(2).at(0).toString()));
    QVERIFY(window.runState() == RunState::Idle);
    QCOMPARE(sim.stats().requests, sentBefore);

    window.endpointModel()->setEndpoints({e});
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.run();
    QVERIFY(finished.wait(30000));
    QCOMPARE(refused.count(), 3);
    QCOMPARE(window.lastSnapshot().resumedSucceeded + window.lastSnapshot().succeeded, 200);
    QCOMPARE(sim.stats().requests, 200);
    QVERIFY2(dialog.isEmpty(), qPrintable(QStringLiteral("a dialog opened: ") + dialog));
}

void tst_MainWindow::tryItRunsTheDemo()
{
    MainWindow window;
    window.show();
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.tryIt();
    QTRY_VERIFY_WITH_TIMEOUT(window.runState() == RunState::Running || !finished.isEmpty(), 10000);
    // Change a weight mid-run: the split moves.
    EndpointTableModel *model = window.endpointModel();
    QTRY_VERIFY_WITH_TIMEOUT(window.lastSnapshot().succeeded > 100 || !finished.isEmpty(), 20000);
    if (finished.isEmpty()) {
        QVERIFY(model->setData(model->index(1, EndpointTableModel::Weight), 0.0, Qt::EditRole));
    }
    QVERIFY(finished.wait(60000));
    const MetricsSnapshot &s = window.lastSnapshot();
    QCOMPARE(s.succeeded + s.failed, 2000);
    QCOMPARE(s.failed, 0);
    // The split moved: sim-b (weight 1 of 4) stopped getting requests early in the run, and the table
    // says so.
    QVERIFY2(s.endpoints.at(1).sent < 300, qPrintable(QString::number(s.endpoints.at(1).sent)));
    QVERIFY(s.endpoints.at(1).sent > 0);
    QCOMPARE(model->data(model->index(1, EndpointTableModel::State)).toString(), QStringLiteral("disabled"));
    QCOMPARE(model->data(model->index(0, EndpointTableModel::Ok)).toString(),
             QLocale().toString(s.endpoints.at(0).ok));
    QDir().mkpath(QStringLiteral(SLUICE_ARTIFACT_DIR));
    QVERIFY(window.grab().save(QStringLiteral(SLUICE_ARTIFACT_DIR "/mainwindow-try-it.png")));
}

void tst_MainWindow::gatewayServesAndFeedsTheCharts()
{
    Simulator sim;
    QVERIFY(sim.listen());
    MainWindow window;
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    e.name = QStringLiteral("sim");
    window.endpointModel()->setEndpoints({e});
    QVERIFY(window.startGateway(0));
    const quint16 port = window.gatewayPort();
    QVERIFY(port != 0);
    QVERIFY(window.runState() != RunState::Running); // a gateway is not a batch run
    // Real callers over loopback; the gateway answers from its own thread.
    constexpr int Calls = 5;
    for (int i = 0; i < Calls; ++i) {
        QTcpSocket socket;
        socket.connectToHost(QHostAddress::LocalHost, port);
        QVERIFY(socket.waitForConnected(5000));
        const QByteArray body =
            "{\"messages\":[{\"role\":\"user\",\"content\":\"gui " + QByteArray::number(i) + "\"}]}";
        socket.write(Test::httpRequest("POST", "/v1/chat/completions", body));
        QByteArray reply;
        QTRY_VERIFY_WITH_TIMEOUT((reply += socket.readAll(), reply.contains("Simulated reply to: gui")),
                                 10000);
        QVERIFY2(reply.startsWith("HTTP/1.1 200"), reply.constData());
    }
    // Its snapshots feed the same table and charts as a run.
    QTRY_COMPARE_WITH_TIMEOUT(window.lastSnapshot().succeeded, qint64(Calls), 5000);
    QTRY_VERIFY_WITH_TIMEOUT(window.charts()->pointCount(LiveCharts::Series::Finished) > 0, 5000);
    QSignalSpy stopped(&window, &MainWindow::gatewayStopped);
    window.stopGateway();
    QVERIFY(stopped.wait(10000));
    QCOMPARE(window.gatewayPort(), quint16(0));
    QTcpSocket after;
    after.connectToHost(QHostAddress::LocalHost, port);
    QVERIFY(!after.waitForConnected(1000)); // no longer listening
}

QTEST_MAIN(tst_MainWindow)
#include "tst_mainwindow.moc"
