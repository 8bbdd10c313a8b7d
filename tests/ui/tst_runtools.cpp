// What the window offers around a run (issue 19): the run settings dialog, outputs that are never
// replaced silently, the end-of-run summary, the records browser ("what happened to line N?") and the
// chart markers of the operator's actions. Real widgets offscreen, real simulators over loopback.

#include "charts/latencyhistogramchart.h"
#include "charts/livecharts.h"
#include "cost/costestimate.h"
#include "mainwindow.h"
#include "models/endpointtablemodel.h"
#include "models/resultsmodel.h"
#include "resultsbrowser.h"
#include "runfixture.h"
#include "sim/simulator.h"
#include "summarypanel.h"
#include "widgets/costgauge.h"

#include <QApplication>
#include <QChartView>
#include <QCheckBox>
#include <QClipboard>
#include <QComboBox>
#include <QDialog>
#include <QDoubleSpinBox>
#include <QFile>
#include <QFileInfo>
#include <QGraphicsTextItem>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSettings>
#include <QSignalSpy>
#include <QSpinBox>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <functional>
#include <memory>

using namespace Sluice;
using namespace Sluice::Gui;
using json = nlohmann::json;

namespace {

/// Runs `act` on the next modal dialog that opens (checked every 20 ms, for at most 10 s).
void onNextDialog(std::function<void(QWidget *)> act)
{
    auto *timer = new QTimer;
    auto *deadline = new QElapsedTimer;
    deadline->start();
    QObject::connect(timer, &QTimer::timeout, timer, [timer, deadline, act] {
        if (QWidget *modal = QApplication::activeModalWidget()) {
            timer->stop();
            act(modal);
            timer->deleteLater();
            delete deadline;
        } else if (deadline->elapsed() > 10000) {
            timer->stop();
            timer->deleteLater();
            delete deadline;
        }
    });
    timer->start(20);
}

void clickButton(QWidget *box, const QString &text)
{
    for (QAbstractButton *b : box->findChildren<QAbstractButton *>()) {
        if (b->text() == text) {
            b->click();
            return;
        }
    }
    QFAIL(qPrintable(QStringLiteral("no button \"%1\"").arg(text)));
}

} // namespace

class tst_RunTools : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void runSettingsDialogSetsLimitsRetriesTimeouts();
    void runSettingsDialogRefusesABadBackoff();
    void outputsGoWhereTheSettingsSay();
    void earlierResultsAreNeverReplacedSilently();
    void summaryShowsErrorRatesAndHistogram();
    void recordsBrowserAnswersWhatHappenedToALine();
    void operatorActionsAreMarked();
    void chartAxesAreReadableThroughARun();
    void histogramBins_data();
    void histogramBins();
    void budgetFromTheSettingsIsSavedWithTheProject();
    void budgetedRunShowsSpendInTheGaugeAndTable();
    void runStoppedAtTheBudgetShowsRed();

private:
    QString writeLines(const QString &name, int count, int badEvery = 0);
    /// Chat lines with max_tokens (a worst case of about a thousandth of a dollar at pricedEndpoint's rates).
    QString writeCostLines(const QString &name, int count);
    static EndpointConfig pricedEndpoint(const QUrl &url);
    bool load(MainWindow &window, const QList<EndpointConfig> &endpoints, const QString &requests);
    bool runToEnd(MainWindow &window);
    std::unique_ptr<QTemporaryDir> m_dir;
};

void tst_RunTools::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true);
    QApplication::setApplicationName(QStringLiteral("sluice-runtools"));
}

void tst_RunTools::init()
{
    QSettings().clear();
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
}

QString tst_RunTools::writeLines(const QString &name, int count, int badEvery)
{
    QList<json> lines;
    for (int i = 1; i <= count; ++i) {
        // Every badEvery-th line is one the server refuses (400): it ends in the errors file.
        const std::string text = badEvery > 0 && i % badEvery == 0
                                     ? "refuse @sim(status=400) " + std::to_string(i)
                                     : "tools " + std::to_string(i);
        lines.append(json{{"custom_id", "t" + std::to_string(i)}, {"input", text}});
    }
    const QString path = m_dir->filePath(name);
    return Test::writeJsonl(path, lines) ? path : QString();
}

QString tst_RunTools::writeCostLines(const QString &name, int count)
{
    QList<json> lines;
    for (int i = 1; i <= count; ++i) {
        lines.append(
            json{{"custom_id", "c" + std::to_string(i)},
                 {"messages", {{{"role", "user"}, {"content", "Tell me about sluice " + std::to_string(i)}}}},
                 {"max_tokens", 100}});
    }
    const QString path = m_dir->filePath(name);
    return Test::writeJsonl(path, lines) ? path : QString();
}

EndpointConfig tst_RunTools::pricedEndpoint(const QUrl &url)
{
    EndpointConfig e = EndpointConfig::fromUrl(url, 0);
    e.name = QStringLiteral("sim");
    e.model = QStringLiteral("house-small");
    e.price.inputPerMtok = 2.0;
    e.price.outputPerMtok = 8.0;
    return e;
}

bool tst_RunTools::load(MainWindow &window, const QList<EndpointConfig> &endpoints, const QString &requests)
{
    window.endpointModel()->setEndpoints(endpoints);
    QSignalSpy preflight(&window, &MainWindow::preflightFinished);
    return window.openRequests(requests) && preflight.wait(10000);
}

bool tst_RunTools::runToEnd(MainWindow &window)
{
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.run();
    return finished.wait(60000);
}

void tst_RunTools::runSettingsDialogSetsLimitsRetriesTimeouts()
{
    MainWindow window;
    window.show();
    EndpointConfig e =
        EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:9/v1/chat/completions")), 0);
    e.name = QStringLiteral("e");
    QVERIFY(load(window, {e}, writeLines(QStringLiteral("settings.jsonl"), 10)));
    QVERIFY(!window.hasUnsavedChanges());
    // The status bar says what the run will use, and opens the dialog.
    auto *button = window.findChild<QAbstractButton *>(QStringLiteral("settingsButton"));
    QVERIFY(button);
    QVERIFY2(button->text().contains(QStringLiteral("no global req/s limit")), qPrintable(button->text()));
    bool seen = false;
    onNextDialog([&](QWidget *dialog) {
        seen = dialog->objectName() == QStringLiteral("runSettingsDialog");
        dialog->findChild<QDoubleSpinBox *>(QStringLiteral("globalRps"))->setValue(25);
        dialog->findChild<QDoubleSpinBox *>(QStringLiteral("globalTpm"))->setValue(90000);
        dialog->findChild<QSpinBox *>(QStringLiteral("maxAttempts"))->setValue(3);
        dialog->findChild<QDoubleSpinBox *>(QStringLiteral("backoffBase"))->setValue(200);
        dialog->findChild<QDoubleSpinBox *>(QStringLiteral("backoffMax"))->setValue(5000);
        dialog->findChild<QDoubleSpinBox *>(QStringLiteral("attemptTimeout"))->setValue(30);
        clickButton(dialog, QStringLiteral("OK"));
    });
    button->click();
    QVERIFY(seen);
    const RunSettingsDialog::Settings s = window.runSettings();
    QCOMPARE(s.limits.rps, 25.0);
    QCOMPARE(s.limits.tpm, 90000.0);
    QCOMPARE(s.limits.retry.maxAttempts, 3);
    QCOMPARE(s.limits.retry.baseDelayMs, 200.0);
    QCOMPARE(s.limits.retry.maxDelayMs, 5000.0);
    QCOMPARE(s.timeoutS, 30.0);
    QCOMPARE(window.endpointModel()->endpoints().at(0).timeoutS, 30.0);
    QVERIFY(window.hasUnsavedChanges());
    QVERIFY2(button->text().contains(QStringLiteral("global 25 req/s")), qPrintable(button->text()));
    // The prediction follows: 10 requests at 25/s.
    QVERIFY(window.logText().contains(QStringLiteral("Run settings: global 25 req/s")));
    // Saved in the project, as sluice-cli reads it.
    const QString path = m_dir->filePath(QStringLiteral("p.json"));
    QVERIFY(window.saveProject(path));
    QVERIFY(!window.hasUnsavedChanges());
    const auto loaded = ProjectConfig::load(path);
    QVERIFY(loaded);
    QCOMPARE(loaded->limits.rps, 25.0);
    QCOMPARE(loaded->limits.retry.maxAttempts, 3);
    QCOMPARE(loaded->endpoints.at(0).timeoutS, 30.0);
}

void tst_RunTools::runSettingsDialogRefusesABadBackoff()
{
    RunSettingsDialog::Settings settings;
    RunSettingsDialog dialog(settings, QString());
    dialog.findChild<QDoubleSpinBox *>(QStringLiteral("backoffBase"))->setValue(9000);
    dialog.findChild<QDoubleSpinBox *>(QStringLiteral("backoffMax"))->setValue(100);
    dialog.show();
    dialog.accept();
    QVERIFY(dialog.isVisible()); // not closed
    auto *problem = dialog.findChild<QLabel *>(QStringLiteral("settingsProblem"));
    QVERIFY(problem->isVisible());
    QVERIFY2(problem->text().contains(QStringLiteral("backoff cap")), qPrintable(problem->text()));
    dialog.findChild<QDoubleSpinBox *>(QStringLiteral("backoffMax"))->setValue(10000);
    dialog.accept();
    QCOMPARE(dialog.result(), int(QDialog::Accepted));
}

void tst_RunTools::outputsGoWhereTheSettingsSay()
{
    SimulatorConfig config;
    config.latencyMs = 2;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    QVERIFY(load(window, {EndpointConfig::fromUrl(sim.chatUrl(), 0)},
                 writeLines(QStringLiteral("out.jsonl"), 30)));
    RunSettingsDialog::Settings s = window.runSettings();
    s.resultsPath = m_dir->filePath(QStringLiteral("elsewhere/mine.jsonl"));
    s.errorsPath = m_dir->filePath(QStringLiteral("elsewhere/mine-errors.jsonl"));
    QVERIFY(QDir().mkpath(m_dir->filePath(QStringLiteral("elsewhere"))));
    window.setRunSettings(s);
    QCOMPARE(window.resultsPath(), s.resultsPath);
    QVERIFY(runToEnd(window));
    QCOMPARE(Test::readJsonl(s.resultsPath).size(), 30);
    QVERIFY(!QFileInfo::exists(m_dir->filePath(QStringLiteral("out-results.jsonl"))));
}

void tst_RunTools::earlierResultsAreNeverReplacedSilently()
{
    SimulatorConfig config;
    config.latencyMs = 2;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    window.show();
    QVERIFY(load(window, {EndpointConfig::fromUrl(sim.chatUrl(), 0)},
                 writeLines(QStringLiteral("again.jsonl"), 20)));
    QVERIFY(runToEnd(window));
    const QString first = window.resultsPath();
    QFile before(first);
    QVERIFY(before.open(QIODevice::ReadOnly));
    const QByteArray firstContent = before.readAll();
    before.close();
    QCOMPARE(firstContent.count('\n'), 20);

    // Run again: the window asks; "Write new files" keeps the first run's records.
    QString question;
    onNextDialog([&](QWidget *box) {
        question = qobject_cast<QMessageBox *>(box) ? qobject_cast<QMessageBox *>(box)->text() : QString();
        clickButton(box, QStringLiteral("Write &new files"));
    });
    QVERIFY(runToEnd(window));
    QVERIFY2(question.contains(QStringLiteral("again-results.jsonl")), qPrintable(question));
    QCOMPARE(window.resultsPath(), m_dir->filePath(QStringLiteral("again-results-2.jsonl")));
    QCOMPARE(window.errorsPath(), m_dir->filePath(QStringLiteral("again-errors-2.jsonl")));
    QCOMPARE(Test::readJsonl(window.resultsPath()).size(), 20);
    QFile after(first);
    QVERIFY(after.open(QIODevice::ReadOnly));
    QCOMPARE(after.readAll(), firstContent);

    // Cancel: nothing is sent.
    const qint64 sent = sim.stats().requests;
    onNextDialog(
        [](QWidget *box) { qobject_cast<QMessageBox *>(box)->button(QMessageBox::Cancel)->click(); });
    window.run();
    QVERIFY(window.runState() == RunState::Finished);
    QTest::qWait(300);
    QCOMPARE(sim.stats().requests, sent);

    // The setting "replace them" replaces, and says so in the log.
    RunSettingsDialog::Settings s = window.runSettings();
    s.existing = RunSettingsDialog::ExistingOutputs::Replace;
    window.setRunSettings(s);
    QVERIFY(runToEnd(window));
    QVERIFY(window.logText().contains(QStringLiteral("Replacing the earlier run's records")));
    QCOMPARE(window.resultsPath(), m_dir->filePath(QStringLiteral("again-results-2.jsonl")));
}

void tst_RunTools::summaryShowsErrorRatesAndHistogram()
{
    SimulatorConfig config;
    config.latencyMs = 5;
    config.jitterMs = 40;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    window.show();
    QVERIFY(load(window, {EndpointConfig::fromUrl(sim.chatUrl(), 0)},
                 writeLines(QStringLiteral("sum.jsonl"), 200, 20)));
    QVERIFY(runToEnd(window));
    const MetricsSnapshot &s = window.lastSnapshot();
    QCOMPARE(s.succeeded, 190);
    QCOMPARE(s.failed, 10);
    SummaryPanel *summary = window.summaryPanel();
    QVERIFY(summary->hasSummary());
    QVERIFY(summary->isVisible()); // the run's end shows it
    const QString text = summary->text();
    QVERIFY2(text.contains(QStringLiteral("Finished in")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("Error rate (lines): 5.00 %")), qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("client: 10 lines")), qPrintable(text));
    QCOMPARE(SummaryPanel::errorRatePercent(s), 5.0);
    qint64 inBins = 0;
    for (const LatencyHistogramChart::Bin &bin : summary->histogram()->bins()) {
        inBins += bin.count;
    }
    QCOMPARE(inBins, 190);
    QVERIFY(summary->histogram()->bins().size() >= 3);
    QVERIFY(!summary->histogram()->render(QSize(400, 300)).isNull());
}

void tst_RunTools::recordsBrowserAnswersWhatHappenedToALine()
{
    SimulatorConfig config;
    config.latencyMs = 2;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    window.show();
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    e.name = QStringLiteral("sim");
    // Line 3 is blank and line 5 is not JSON: record line numbers are the file's own.
    const QString path = m_dir->filePath(QStringLiteral("records.jsonl"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("{\"custom_id\":\"first\",\"input\":\"one\"}\n{\"custom_id\":\"second\",\"input\":\"two\"}\n\n"
               "{\"custom_id\":\"refused\",\"input\":\"no @sim(status=400)\"}\n{broken\n"
               "{\"custom_id\":\"last-one\",\"input\":\"six\"}\n");
    file.close();
    QVERIFY(load(window, {e}, path));
    QVERIFY(runToEnd(window));
    ResultsBrowser *browser = window.resultsBrowser();
    QCOMPARE(browser->model()->rowCount(), 0); // indexed when the tab is opened, not before
    QSignalSpy loaded(browser, &ResultsBrowser::loaded);
    window.showTab(MainWindow::Tab::Records);
    QVERIFY(browser->isLoading());
    QVERIFY(loaded.wait(10000));
    QCOMPARE(browser->model()->rowCount(), 5);

    // By line number: a success shows its request and the reply.
    auto *search = browser->findChild<QLineEdit *>(QStringLiteral("resultsSearch"));
    search->setText(QStringLiteral("6"));
    QTest::keyClick(search, Qt::Key_Return);
    QString detail = browser->detailText();
    QVERIFY2(detail.startsWith(
                 QStringLiteral("Line 6 · custom_id \"last-one\" · succeeded · endpoint sim · 1 attempt")),
             qPrintable(detail));
    QVERIFY2(detail.contains(QStringLiteral("Request (line 6 of records.jsonl)")) &&
                 detail.contains(QStringLiteral("\"six\"")),
             qPrintable(detail));
    QVERIFY2(detail.contains(QStringLiteral("Reply:")) &&
                 detail.contains(QStringLiteral("Simulated reply to: six")),
             qPrintable(detail));
    // By custom_id: an error shows the reason and the original line.
    QVERIFY(browser->search(QStringLiteral("refused")));
    detail = browser->detailText();
    QVERIFY2(detail.contains(QStringLiteral("failed: client")) && detail.contains(QStringLiteral("HTTP 400")),
             qPrintable(detail));
    QVERIFY2(detail.contains(QStringLiteral("Reason: HTTP 400")), qPrintable(detail));
    QVERIFY2(detail.contains(QStringLiteral("Original line 4")) &&
                 detail.contains(QStringLiteral("@sim(status=400)")),
             qPrintable(detail));
    // An invalid line: never sent, its reason and its text.
    QVERIFY(browser->search(QStringLiteral("5")));
    detail = browser->detailText();
    QVERIFY2(detail.contains(QStringLiteral("failed: invalid_input")) &&
                 detail.contains(QStringLiteral("never sent")),
             qPrintable(detail));
    // A line with no record (the blank one).
    QVERIFY(!browser->search(QStringLiteral("3")));
    QVERIFY(browser->findChild<QLabel *>(QStringLiteral("resultsStatus"))
                ->text()
                .contains(QStringLiteral("No record for line 3")));
    // Copy.
    QVERIFY(browser->search(QStringLiteral("first")));
    browser->findChild<QPushButton *>(QStringLiteral("copyRecord"))->click();
    QVERIFY(QApplication::clipboard()->text().contains(QStringLiteral("custom_id \"first\"")));
    // Only the errors.
    browser->findChild<QComboBox *>(QStringLiteral("resultsFilter"))->setCurrentIndex(2);
    QCOMPARE(browser->model()->rowCount(), 2);
    QCOMPARE(browser->model()->rowForLine(4), 0);
    QCOMPARE(browser->model()->rowForLine(1), -1);
}

void tst_RunTools::operatorActionsAreMarked()
{
    SimulatorConfig config;
    config.latencyMs = 20;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    window.show();
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    e.name = QStringLiteral("e");
    e.rpm = 3000;
    QVERIFY(load(window, {e}, writeLines(QStringLiteral("marks.jsonl"), 200)));
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.run();
    QTRY_VERIFY_WITH_TIMEOUT(window.lastSnapshot().succeeded >= 20, 10000);
    EndpointTableModel *model = window.endpointModel();
    QVERIFY(model->setData(model->index(0, EndpointTableModel::Rpm), 6000.0));
    window.pause();
    QTRY_VERIFY_WITH_TIMEOUT(window.runState() == RunState::Paused, 5000);
    window.resume();
    QVERIFY(finished.wait(30000));
    QStringList texts;
    for (const ChartMarker &m : window.charts()->markers()) {
        texts.append(m.text);
    }
    QVERIFY2(texts.contains(QStringLiteral("e: rpm 3,000 → 6,000 (live)")),
             qPrintable(texts.join(QStringLiteral(" | "))));
    QVERIFY(texts.contains(QStringLiteral("paused")));
    QVERIFY(texts.contains(QStringLiteral("resumed")));
    for (const ChartMarker &m : window.charts()->markers()) {
        QVERIFY(m.second > 0 && m.second < window.lastSnapshot().elapsedMs / 1000.0 + 1);
    }
    QVERIFY(window.logText().contains(QStringLiteral("e: rpm 3,000 → 6,000 (live)")));
}

void tst_RunTools::chartAxesAreReadableThroughARun()
{
    // Try it, watched: every half second, no label of any chart on screen is elided ("…": Qt Charts
    // had no room for it) or hidden because the axis is squeezed.
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.tryIt();
    QStringList elided;
    while (finished.isEmpty() && !QTest::currentTestFailed()) {
        finished.wait(500);
        window.showTab(MainWindow::Tab::Charts);
        for (QChartView *view : window.charts()->findChildren<QChartView *>()) {
            if (!view->isVisible()) {
                continue;
            }
            for (QGraphicsItem *item : view->scene()->items()) {
                auto *text = dynamic_cast<QGraphicsTextItem *>(item);
                if (text && text->isVisible() &&
                    (text->toPlainText().contains(QStringLiteral("…")) ||
                     text->toPlainText().contains(QStringLiteral("...")))) {
                    elided.append(QStringLiteral("%1 at %2 s: %3")
                                      .arg(view->objectName())
                                      .arg(window.lastSnapshot().elapsedMs / 1000.0)
                                      .arg(text->toPlainText()));
                }
            }
        }
    }
    QVERIFY2(elided.isEmpty(), qPrintable(elided.join(QStringLiteral("; "))));
}

void tst_RunTools::histogramBins_data()
{
    QTest::addColumn<double>("low");
    QTest::addColumn<double>("high");
    QTest::addColumn<QString>("firstLabel");
    QTest::addColumn<QString>("lastLabel");
    QTest::newRow("40-110 ms: even 5 ms bins")
        << 40.0 << 110.0 << QStringLiteral("40") << QStringLiteral("110");
    QTest::newRow("3 ms - 20 s: 1-2-5 per decade, in seconds")
        << 3.0 << 20000.0 << QStringLiteral("0.005") << QStringLiteral("20");
}

void tst_RunTools::histogramBins()
{
    QFETCH(double, low);
    QFETCH(double, high);
    QFETCH(QString, firstLabel);
    QFETCH(QString, lastLabel);
    // 4 % buckets from low to high, 10 latencies each.
    std::vector<std::pair<double, qint64>> buckets;
    for (double ms = low; ms <= high * 1.0001; ms *= 1.04) {
        buckets.emplace_back(ms, 10);
    }
    const QList<LatencyHistogramChart::Bin> bins = LatencyHistogramChart::regroup(buckets);
    QVERIFY(bins.size() >= 3 && bins.size() <= 18);
    QCOMPARE(bins.first().label, firstLabel);
    QCOMPARE(bins.last().label, lastLabel);
    qint64 total = 0;
    for (qsizetype i = 0; i < bins.size(); ++i) {
        total += bins.at(i).count;
        if (i > 0) {
            QVERIFY(bins.at(i).upperMs > bins.at(i - 1).upperMs);
        }
    }
    QCOMPARE(total, qint64(buckets.size()) * 10);
}

void tst_RunTools::budgetFromTheSettingsIsSavedWithTheProject()
{
    MainWindow window;
    window.show();
    QVERIFY(load(window, {pricedEndpoint(QUrl(QStringLiteral("http://127.0.0.1:9/v1/chat/completions")))},
                 writeCostLines(QStringLiteral("budget.jsonl"), 10)));
    auto *preflight = window.findChild<QLabel *>(QStringLiteral("preflightLabel"));
    QVERIFY2(preflight->text().contains(QStringLiteral("Estimated cost: <b>$")),
             qPrintable(preflight->text()));
    QVERIFY2(preflight->text().contains(QStringLiteral("sim 100 %: $")), qPrintable(preflight->text()));
    QVERIFY(!preflight->text().contains(QStringLiteral("Unpriced")));
    CostGauge *gauge = window.costGauge();
    QCOMPARE(gauge->text(), QStringLiteral("Cost: no budget"));
    QVERIFY(gauge->isVisible());

    // The dialog's budget field (USD, the shared bounds) sets limits.max_cost_usd.
    double maximum = 0;
    onNextDialog([&](QWidget *dialog) {
        auto *budget = dialog->findChild<QDoubleSpinBox *>(QStringLiteral("maxCostUsd"));
        maximum = budget->maximum();
        QCOMPARE(budget->value(), 0.0);
        QCOMPARE(budget->text(), QStringLiteral("none"));
        budget->setValue(2.5);
        clickButton(dialog, QStringLiteral("OK"));
    });
    window.findChild<QAbstractButton *>(QStringLiteral("settingsButton"))->click();
    QCOMPARE(maximum, Bounds::CostUsd.max);
    QCOMPARE(window.runSettings().limits.maxCostUsd, 2.5);
    QVERIFY(window.hasUnsavedChanges());
    const QString button = window.findChild<QAbstractButton *>(QStringLiteral("settingsButton"))->text();
    QVERIFY2(button.contains(QStringLiteral("budget $2.50")), qPrintable(button));
    QCOMPARE(gauge->text(), QStringLiteral("Budget $2.50, nothing spent yet"));
    QVERIFY2(preflight->text().contains(QStringLiteral("Budget $2.50: the whole run fits")),
             qPrintable(preflight->text()));

    // Saved in the project as sluice-cli reads it, and read back into the dialog.
    const QString path = m_dir->filePath(QStringLiteral("budget-project.json"));
    QVERIFY(window.saveProject(path));
    const auto readJson = [](const QString &name) {
        QFile file(name);
        return file.open(QIODevice::ReadOnly) ? json::parse(file.readAll().toStdString(), nullptr, false)
                                              : json();
    };
    const json root = readJson(path);
    QVERIFY2(root.contains("limits") && root.at("limits").contains("max_cost_usd"), root.dump().c_str());
    QCOMPARE(root.at("limits").at("max_cost_usd").get<double>(), 2.5);
    MainWindow other;
    other.show();
    QVERIFY(other.openProject(path));
    QCOMPARE(other.runSettings().limits.maxCostUsd, 2.5);
    QCOMPARE(other.costGauge()->text(), QStringLiteral("Budget $2.50, nothing spent yet"));
    double shown = -1;
    onNextDialog([&](QWidget *dialog) {
        auto *budget = dialog->findChild<QDoubleSpinBox *>(QStringLiteral("maxCostUsd"));
        shown = budget->value();
        budget->setValue(0); // none again
        clickButton(dialog, QStringLiteral("OK"));
    });
    other.openRunSettings();
    QCOMPARE(shown, 2.5);
    QVERIFY(other.saveProject(path));
    const json again = readJson(path);
    QVERIFY(again.is_object());
    QVERIFY2(!again.contains("limits") || !again.at("limits").contains("max_cost_usd"), again.dump().c_str());
    QCOMPARE(other.costGauge()->text(), QStringLiteral("Cost: no budget"));
}

void tst_RunTools::budgetedRunShowsSpendInTheGaugeAndTable()
{
    SimulatorConfig config;
    config.latencyMs = 2;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    window.show();
    QVERIFY(
        load(window, {pricedEndpoint(sim.chatUrl())}, writeCostLines(QStringLiteral("spend.jsonl"), 200)));
    RunSettingsDialog::Settings settings = window.runSettings();
    settings.limits.maxCostUsd = 5;
    window.setRunSettings(settings);
    QVERIFY(runToEnd(window));
    const MetricsSnapshot &s = window.lastSnapshot();
    QCOMPARE(s.succeeded + s.failed, 200);
    QVERIFY2(s.cost.spentUsd > 0, qPrintable(QString::number(s.cost.spentUsd)));
    QCOMPARE(s.cost.budgetUsd, 5.0);

    // The gauge: what was spent, of the budget, in the status bar.
    CostGauge *gauge = window.costGauge();
    QVERIFY(gauge->isVisible());
    QCOMPARE(gauge->parentWidget(), static_cast<QWidget *>(window.statusBar()));
    QVERIFY(gauge->share() > 0);
    QCOMPARE(gauge->level(), CostGauge::Level::Normal);
    const QString expected = CostEstimate::formatUsd(s.cost.spentUsd) + QStringLiteral(" spent of $5.00 (");
    QVERIFY2(gauge->text().startsWith(expected),
             qPrintable(gauge->text() + QStringLiteral(" / ") + expected));

    // The endpoints table's Cost column: the endpoint's spend, as wide as its text.
    EndpointTableModel *model = window.endpointModel();
    const QModelIndex cost = model->index(0, EndpointTableModel::Cost);
    QCOMPARE(model->headerData(EndpointTableModel::Cost, Qt::Horizontal).toString(), QStringLiteral("Cost"));
    QCOMPARE(cost.data(Qt::EditRole).toDouble(), s.endpoints.at(0).costSpentUsd);
    QVERIFY(cost.data(Qt::EditRole).toDouble() > 0);
    QCOMPARE(cost.data().toString(), CostEstimate::formatUsd(s.endpoints.at(0).costSpentUsd));
    auto *table = window.findChild<QTableView *>(QStringLiteral("endpointTable"));
    QVERIFY(table->columnWidth(EndpointTableModel::Cost) >=
            table->fontMetrics().horizontalAdvance(cost.data().toString()));

    // The summary: spend and budget lines.
    const QString text = window.summaryPanel()->text();
    QVERIFY2(text.contains(QStringLiteral("Spent: ") + CostEstimate::formatUsd(s.cost.spentUsd)),
             qPrintable(text));
    QVERIFY2(text.contains(QStringLiteral("Budget: $5.00 (")), qPrintable(text));
    QVERIFY(!text.contains(QStringLiteral("Budget reached")));
    QVERIFY(window.logText().contains(QStringLiteral("Cost: $")));
}

void tst_RunTools::runStoppedAtTheBudgetShowsRed()
{
    SimulatorConfig config;
    config.latencyMs = 2;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    window.show();
    QVERIFY(load(window, {pricedEndpoint(sim.chatUrl())}, writeCostLines(QStringLiteral("stop.jsonl"), 300)));
    RunSettingsDialog::Settings settings = window.runSettings();
    settings.limits.maxCostUsd = 0.01; // some tens of lines, not 300
    window.setRunSettings(settings);
    QVERIFY(runToEnd(window));
    const MetricsSnapshot &s = window.lastSnapshot();
    QVERIFY(s.cost.budgetReached);
    QVERIFY(s.notStarted > 0 && s.notStarted < 300);
    QVERIFY(s.cost.spentUsd <= 0.01 + 1e-9);
    CostGauge *gauge = window.costGauge();
    QCOMPARE(gauge->level(), CostGauge::Level::Reached);
    QCOMPARE(gauge->barColor(), CostGauge::color(CostGauge::Level::Reached));
    const QString reached = QStringLiteral("budget reached: %1 lines not sent")
                                .arg(QLocale(QLocale::English).toString(s.notStarted));
    QVERIFY2(gauge->text().startsWith(reached), qPrintable(gauge->text()));
    const QString summary = window.summaryPanel()->text();
    QVERIFY2(summary.startsWith(QStringLiteral("Stopped at the cost budget")), qPrintable(summary));
    QVERIFY2(summary.contains(QStringLiteral("Budget reached: ")), qPrintable(summary));
}

QTEST_MAIN(tst_RunTools)
#include "tst_runtools.moc"
