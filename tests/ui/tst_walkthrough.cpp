// The desktop app walked through as a new operator would (issue 19), on the real widgets under
// QT_QPA_PLATFORM=offscreen, against real simulators over loopback. One test per defect the walk
// found; each drives the window the way the operator did (menus, cells, buttons) and reads what the
// window shows (labels, log, table, exported files). They reach widgets by type and what they show,
// so they run against the window as it was before the fixes too (and failed there).

#include "charts/livecharts.h"
#include "mainwindow.h"
#include "models/endpointtablemodel.h"
#include "runfixture.h"
#include "sim/simulator.h"

#include <QAbstractSpinBox>
#include <QAction>
#include <QApplication>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QHeaderView>
#include <QImage>
#include <QLabel>
#include <QLineEdit>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QSettings>
#include <QSignalSpy>
#include <QStandardPaths>
#include <QStatusBar>
#include <QStyleOptionViewItem>
#include <QStyledItemDelegate>
#include <QTableView>
#include <QTemporaryDir>
#include <QTest>
#include <QTimer>

#include <memory>

using namespace Sluice;
using namespace Sluice::Gui;
using json = nlohmann::json;

namespace {

/// Everything the window's log shows.
QString logText(const MainWindow &window)
{
    QString text;
    for (const QPlainTextEdit *edit : window.findChildren<QPlainTextEdit *>()) {
        text += edit->toPlainText() + QLatin1Char('\n');
    }
    return text;
}

/// The progress text beside the progress bar ("N of M lines ..."), empty when none shows.
QString progressText(const MainWindow &window)
{
    static const QRegularExpression progress(QStringLiteral("\\d of [\\d,]+ lines"));
    if (const auto *label = window.findChild<QLabel *>(QStringLiteral("progressLabel"))) {
        return progress.match(label->text()).hasMatch() ? label->text() : QString();
    }
    for (const QLabel *label : window.centralWidget()->findChildren<QLabel *>()) {
        if (label->isVisibleTo(&window) && progress.match(label->text()).hasMatch()) {
            return label->text();
        }
    }
    return QString();
}

/// The texts of the labels in the status bar (the run state and the like).
QStringList statusTexts(const MainWindow &window)
{
    QStringList texts;
    for (const QLabel *label : window.statusBar()->findChildren<QLabel *>()) {
        texts.append(label->text());
    }
    texts.append(window.statusBar()->currentMessage());
    return texts;
}

QTableView *endpointView(const MainWindow &window)
{
    return window.findChild<QTableView *>(QStringLiteral("endpointTable"));
}

/// Rows of distinct y with pixels of `color` (±40) in `image`: a plateau spans many, a flat line few.
int rowsWithColor(const QImage &image, const QColor &color)
{
    int rows = 0;
    for (int y = 0; y < image.height(); ++y) {
        int hits = 0;
        for (int x = 0; x < image.width(); ++x) {
            const QColor c = image.pixelColor(x, y);
            hits += std::abs(c.red() - color.red()) + std::abs(c.green() - color.green()) +
                                std::abs(c.blue() - color.blue()) <
                            40
                        ? 1
                        : 0;
        }
        rows += hits > 0 ? 1 : 0;
    }
    return rows;
}

/// Clicks the button of the next message box that opens (and records its text).
class DialogAnswer : public QObject
{
public:
    DialogAnswer(QMessageBox::StandardButton button, QString *seen)
        : m_button(button)
        , m_seen(seen)
    {
        connect(&m_timer, &QTimer::timeout, this, [this] {
            auto *box = qobject_cast<QMessageBox *>(QApplication::activeModalWidget());
            if (!box) {
                return;
            }
            *m_seen = box->text();
            if (QAbstractButton *b = box->button(m_button)) {
                m_timer.stop();
                b->click();
            }
        });
        m_timer.start(20);
    }

private:
    QMessageBox::StandardButton m_button;
    QString *m_seen;
    QTimer m_timer;
};

} // namespace

class tst_Walkthrough : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void init();
    void cleanup();
    // Defect 2
    void tryItLimitStaysWithTheDemo();
    // Defect 3
    void failingEndpointIsNamedAndItsEjectionLogged();
    // Defect 4
    void numericCellsGrowWithTheirNumbers();
    // Defect 5
    void chartExportsHoldTheWholeRun();
    // Defect 6
    void stoppedRunIsCalledStopped();
    // Defect 7
    void refusedEditSaysWhyNextToTheCell_data();
    void refusedEditSaysWhyNextToTheCell();
    // Defect 8
    void refusedRunKeepsTheLastRunOnScreen();
    void openingAFileClearsTheOldProgress();
    // Defect 10
    void exportIsOfferedOnlyAfterARun();
    // Defect 11
    void quitAsksAboutUnsavedEndpoints();
    // Defect 12
    void predictionFollowsEditedLimits();
    void pausedRunShowsNoRateOrEta();

private:
    QString writeLines(int count, const QString &name);
    /// A window with `endpoints`, `requests` loaded; false when the preflight did not finish.
    bool load(MainWindow &window, const QList<EndpointConfig> &endpoints, const QString &requests);
    /// Runs to the end; false when it did not finish in time.
    bool runToEnd(MainWindow &window);

    std::unique_ptr<QTemporaryDir> m_dir;
};

void tst_Walkthrough::initTestCase()
{
    QStandardPaths::setTestModeEnabled(true); // QSettings and app data go to a test location
    QApplication::setApplicationName(QStringLiteral("sluice-walkthrough"));
}

void tst_Walkthrough::init()
{
    m_dir = std::make_unique<QTemporaryDir>();
    QVERIFY(m_dir->isValid());
    QSettings().clear();
}

void tst_Walkthrough::cleanup()
{
    QSettings().clear();
}

QString tst_Walkthrough::writeLines(int count, const QString &name)
{
    QList<json> lines;
    for (int i = 1; i <= count; ++i) {
        lines.append(json{{"custom_id", "w" + std::to_string(i)}, {"input", "walk " + std::to_string(i)}});
    }
    const QString path = m_dir->filePath(name);
    return Test::writeJsonl(path, lines) ? path : QString();
}

bool tst_Walkthrough::load(MainWindow &window, const QList<EndpointConfig> &endpoints,
                           const QString &requests)
{
    window.endpointModel()->setEndpoints(endpoints);
    QSignalSpy preflight(&window, &MainWindow::preflightFinished);
    return window.openRequests(requests) && preflight.wait(10000);
}

bool tst_Walkthrough::runToEnd(MainWindow &window)
{
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.run();
    return finished.wait(60000);
}

// 2. "After Try it, your own endpoints run at 200/s (global rps), Save project writes "rps": 200."
void tst_Walkthrough::tryItLimitStaysWithTheDemo()
{
    MainWindow window;
    window.show();
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.tryIt();
    QVERIFY(finished.wait(60000));
    QCOMPARE(window.lastSnapshot().succeeded + window.lastSnapshot().failed, 2000);

    // The operator's own endpoint replaces the demo's.
    SimulatorConfig config;
    config.latencyMs = 2;
    Simulator sim(config);
    QVERIFY(sim.listen());
    EndpointConfig own = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    own.name = QStringLiteral("mine");
    QVERIFY(load(window, {own}, writeLines(300, QStringLiteral("own.jsonl"))));
    QVERIFY(runToEnd(window));
    QCOMPARE(window.lastSnapshot().succeeded, 300);
    const EndpointStats mine = window.lastSnapshot().endpoints.at(0);
    QVERIFY2(mine.limitReason != LimitReason::GlobalRps,
             qPrintable(QStringLiteral("own endpoint held to the demo's global limit: %1/s (%2)")
                            .arg(mine.limitRps)
                            .arg(mine.limitReasonText())));
    const QString path = m_dir->filePath(QStringLiteral("mine.json"));
    QVERIFY(window.saveProject(path));
    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const json project = json::parse(file.readAll().toStdString());
    QCOMPARE(project["limits"]["rps"].get<double>(), 0.0);
}

// 3. "An endpoint answering 500s shows "unreachable: 0 failures in a row"; ejections are not logged."
void tst_Walkthrough::failingEndpointIsNamedAndItsEjectionLogged()
{
    SimulatorConfig good;
    good.latencyMs = 2;
    SimulatorConfig bad = good;
    bad.errorRate = 1.0; // every request answered 500
    Simulator a(good);
    Simulator b(bad);
    QVERIFY(a.listen());
    QVERIFY(b.listen());
    EndpointConfig ea = EndpointConfig::fromUrl(a.chatUrl(), 0);
    ea.name = QStringLiteral("good");
    ea.rpm = 3000; // 50/s: the run lasts long enough to see the table change
    EndpointConfig eb = EndpointConfig::fromUrl(b.chatUrl(), 1);
    eb.name = QStringLiteral("bad");
    eb.maxInFlight = 2; // few requests fail at once before the ejection, so few wait for retry credit

    MainWindow window;
    window.show();
    QVERIFY(load(window, {ea, eb}, writeLines(300, QStringLiteral("five-hundreds.jsonl"))));
    EndpointTableModel *model = window.endpointModel();
    QStringList states;
    connect(model, &QAbstractItemModel::dataChanged, this,
            [&] { states.append(model->data(model->index(1, EndpointTableModel::State)).toString()); });
    const bool ended = runToEnd(window);
    QVERIFY2(ended,
             qPrintable(logText(window) + QString::fromStdString(window.lastSnapshot().toJson().dump())));
    QVERIFY(b.stats().serverErrors >= 5);
    QVERIFY2(std::any_of(states.cbegin(), states.cend(),
                         [](const QString &s) { return s.startsWith(QStringLiteral("failing")); }),
             qPrintable(states.join(QStringLiteral(" | "))));
    for (const QString &s : states) {
        QVERIFY2(!s.contains(QStringLiteral(": 0 ")), qPrintable(s));
        QVERIFY2(!s.startsWith(QStringLiteral("unreachable")), qPrintable(s)); // it answered
    }
    const QString log = logText(window);
    QVERIFY2(log.contains(QStringLiteral("bad ejected: failing")), qPrintable(log));
    QVERIFY2(!log.contains(QStringLiteral("good ejected")), qPrintable(log));
}

// 4. "Numeric cells clip ("70⁝", "08 ms"): columns do not size to their content as numbers grow."
void tst_Walkthrough::numericCellsGrowWithTheirNumbers()
{
    // Two endpoints, as in the walk-through: one learns its limit from the server's headers, the
    // other starts failing; their cells grow past the window's width and the table scrolls sideways.
    // No cell may be cut meanwhile: every column stays as wide as what it shows.
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    EndpointConfig a =
        EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:18101/v1/chat/completions")), 0);
    a.name = QStringLiteral("limited");
    EndpointConfig b =
        EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:18102/v1/chat/completions")), 1);
    b.name = QStringLiteral("flaky");
    window.endpointModel()->setEndpoints({a, b});
    QTableView *view = endpointView(window);
    QVERIFY(view);

    const auto stats = [](const QString &name, qint64 scale) {
        EndpointStats s;
        s.name = name;
        s.sent = 7 * scale;
        s.ok = 7 * scale;
        s.rateLimited = 3 * scale;
        s.errors = 2 * scale;
        s.inFlight = int(7 * std::min<qint64>(scale, 10000));
        s.p50Ms = 8.0 * double(scale);
        s.costSpentUsd = 0.0123 * double(scale);
        s.costReservedUsd = 0.004 * double(scale);
        return s;
    };
    const auto check = [&](const char *when) {
        QCoreApplication::processEvents();
        for (int row = 0; row < 2; ++row) {
            for (int column = int(EndpointTableModel::State); column < int(EndpointTableModel::ColumnCount);
                 ++column) {
                const QModelIndex index = window.endpointModel()->index(row, column);
                const QString text = index.data().toString();
                QStyleOptionViewItem option;
                option.initFrom(view);
                option.font = view->font();
                const int need = view->itemDelegateForIndex(index)->sizeHint(option, index).width();
                QVERIFY2(view->columnWidth(column) >= need,
                         qPrintable(QStringLiteral("%1: column %2 (\"%3\"): %4 px wide, needs %5")
                                        .arg(QString::fromLatin1(when))
                                        .arg(column)
                                        .arg(text)
                                        .arg(view->columnWidth(column))
                                        .arg(need)));
            }
        }
    };
    MetricsSnapshot s;
    s.endpoints = {stats(QStringLiteral("limited"), 1), stats(QStringLiteral("flaky"), 1)};
    window.endpointModel()->applySnapshot(s);
    check("start");
    s.endpoints[0].limitRps = 40;
    s.endpoints[0].limitReason = LimitReason::HeaderLimit;
    window.endpointModel()->applySnapshot(s);
    check("limit learned");
    s.endpoints[1].state = EndpointState::Failing;
    s.endpoints[1].ejectedAfter = 6;
    s.endpoints[1].limitReason = LimitReason::Ejected;
    window.endpointModel()->applySnapshot(s);
    check("ejected");
    s.endpoints = {stats(QStringLiteral("limited"), 1000000), stats(QStringLiteral("flaky"), 1000000)};
    s.endpoints[0].limitRps = 40;
    s.endpoints[0].limitReason = LimitReason::HeaderLimit;
    window.endpointModel()->applySnapshot(s);
    check("an hour later");
    window.resize(window.width() - 40, window.height()); // the operator narrows the window
    check("narrowed");
}

// 5. "Charts PNG and HTML report export only the visible window ("Last minute"), losing the rest."
void tst_Walkthrough::chartExportsHoldTheWholeRun()
{
    SimulatorConfig config;
    config.latencyMs = 2;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    window.show();
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    QVERIFY(load(window, {e}, writeLines(50, QStringLiteral("short.jsonl"))));
    QVERIFY(runToEnd(window));
    // The run as if it had lasted five minutes: 1,000 sends a second for the first 100 s, then 5.
    std::vector<SecondSample> history;
    for (qint64 s = 0; s < 300; ++s) {
        SecondSample x;
        x.second = s;
        x.issued = s < 100 ? 1000 : 5;
        x.finished = x.issued / 2; // below "Issued", which it would hide
        x.succeeded = x.issued;
        history.push_back(x);
    }
    window.charts()->setHistory(history);
    QCOMPARE(window.charts()->window(), LiveCharts::Window::LastMinute); // what the window shows

    const QString png = m_dir->filePath(QStringLiteral("charts.png"));
    QVERIFY(window.exportTo(MainWindow::Export::ChartsPng, png));
    const QImage image(png);
    QVERIFY(!image.isNull());
    // The first 100 s are a plateau far above the rest: the "Issued" line climbs and falls across many
    // rows of pixels. In the last minute alone it is a flat line near the axis.
    const QColor issued(0x3b, 0x82, 0xf6);
    QVERIFY2(rowsWithColor(image, issued) > 60,
             qPrintable(QStringLiteral("issued drawn on %1 rows").arg(rowsWithColor(image, issued))));

    const QString html = m_dir->filePath(QStringLiteral("report.html"));
    QVERIFY(window.exportTo(MainWindow::Export::ReportHtml, html));
    QFile file(html);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QByteArray page = file.readAll();
    const qsizetype at = page.indexOf("data:image/png;base64,");
    QVERIFY(at >= 0);
    const qsizetype start = at + qsizetype(strlen("data:image/png;base64,"));
    const QImage embedded =
        QImage::fromData(QByteArray::fromBase64(page.mid(start, page.indexOf('"', start) - start)), "PNG");
    QVERIFY(!embedded.isNull());
    QVERIFY2(rowsWithColor(embedded, issued) > 60,
             qPrintable(QStringLiteral("issued drawn on %1 rows").arg(rowsWithColor(embedded, issued))));
    QCOMPARE(window.charts()->window(), LiveCharts::Window::LastMinute); // the view was left alone
}

// 6. "A stopped run is called "Finished" (status bar, log), says nothing of the unsent lines, and
// keeps an ETA."
void tst_Walkthrough::stoppedRunIsCalledStopped()
{
    SimulatorConfig config;
    config.latencyMs = 20;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    window.show();
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    e.rpm = 3000;
    QVERIFY(load(window, {e}, writeLines(400, QStringLiteral("stopped.jsonl"))));
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.run();
    QTRY_VERIFY_WITH_TIMEOUT(sim.stats().ok >= 30, 10000);
    window.stop();
    QVERIFY(finished.wait(20000));
    const qint64 notSent = window.lastSnapshot().notStarted;
    QVERIFY(notSent > 0);

    const QStringList status = statusTexts(window);
    QVERIFY2(status.contains(QStringLiteral("Stopped")), qPrintable(status.join(QStringLiteral(" | "))));
    QVERIFY2(!status.join(QLatin1Char(' ')).contains(QStringLiteral("Finished")),
             qPrintable(status.join(QStringLiteral(" | "))));
    const QString progress = progressText(window);
    QVERIFY2(!progress.contains(QStringLiteral("ETA")), qPrintable(progress));
    QVERIFY2(progress.contains(QLocale(QLocale::English).toString(notSent) + QStringLiteral(" not sent")),
             qPrintable(progress));
    const QString log = logText(window);
    QVERIFY2(log.contains(QStringLiteral("Run stopped")), qPrintable(log));
    QVERIFY2(log.contains(QStringLiteral("not sent")), qPrintable(log));
    QVERIFY2(!log.contains(QStringLiteral("Run finished")), qPrintable(log));
}

// 7. "Bad edits (URL `htp:/not a url`, weight -2) snap back silently; say why, next to the cell."
void tst_Walkthrough::refusedEditSaysWhyNextToTheCell_data()
{
    QTest::addColumn<int>("column");
    QTest::addColumn<QString>("typed");
    QTest::addColumn<QString>("reason"); ///< a word the explanation must hold
    QTest::newRow("url") << int(EndpointTableModel::Url) << QStringLiteral("htp:/not a url")
                         << QStringLiteral("http");
    QTest::newRow("weight") << int(EndpointTableModel::Weight) << QStringLiteral("-2")
                            << QStringLiteral("Weight");
}

void tst_Walkthrough::refusedEditSaysWhyNextToTheCell()
{
    QFETCH(int, column);
    QFETCH(QString, typed);
    QFETCH(QString, reason);
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    EndpointConfig e =
        EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:9/v1/chat/completions")), 0);
    e.name = QStringLiteral("e");
    e.weight = 3;
    window.endpointModel()->setEndpoints({e});
    QTableView *view = endpointView(window);
    const QModelIndex cell = window.endpointModel()->index(0, column);
    const QVariant before = cell.data(Qt::EditRole);

    // The operator double-clicks the cell, types over it and presses Enter.
    view->setCurrentIndex(cell);
    view->edit(cell);
    QWidget *editor = QApplication::focusWidget();
    QVERIFY(editor && editor != view);
    QTest::keyClick(editor, Qt::Key_A, Qt::ControlModifier);
    QTest::keyClicks(editor, typed);
    QTest::keyClick(editor, Qt::Key_Return);
    QCoreApplication::processEvents();
    QCOMPARE(cell.data(Qt::EditRole), before); // refused, as it should be

    // ... and is told why, next to the cell.
    const QRect cellOnScreen(view->viewport()->mapToGlobal(view->visualRect(cell).topLeft()),
                             view->visualRect(cell).size());
    const QLabel *explanation = nullptr;
    for (const QLabel *label : window.findChildren<QLabel *>()) {
        if (!label->isVisible() || !label->text().contains(reason)) {
            continue;
        }
        const QRect at(label->mapToGlobal(QPoint(0, 0)), label->size());
        if (at.adjusted(-40, -40, 40, 40).intersects(cellOnScreen)) {
            explanation = label;
        }
    }
    QVERIFY2(explanation, "no explanation next to the cell");
    QVERIFY2(explanation->text().contains(typed.trimmed()) || column == EndpointTableModel::Weight,
             qPrintable(explanation->text()));
}

// 8. "A refused Run wipes the previous run's charts and counters while the progress bar still shows
// the old run."
void tst_Walkthrough::refusedRunKeepsTheLastRunOnScreen()
{
    SimulatorConfig config;
    config.latencyMs = 2;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    window.show();
    window.setUnattended(MainWindow::Unattended::Refuse); // no dialog: the refusal goes to runRefused()
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    e.name = QStringLiteral("e");
    const QString requests = writeLines(200, QStringLiteral("kept.jsonl"));
    QVERIFY(load(window, {e}, requests));
    QVERIFY(runToEnd(window));
    const int points = window.charts()->pointCount(LiveCharts::Series::Issued);
    QVERIFY(points > 0);
    EndpointTableModel *model = window.endpointModel();
    const QString okCell = model->data(model->index(0, EndpointTableModel::Ok)).toString();
    QCOMPARE(okCell, QStringLiteral("200"));
    const int progress = window.findChild<QProgressBar *>()->value();
    const QString progressLine = progressText(window);

    // Run again with a key variable that is not set: the engine refuses to start (on its thread).
    qunsetenv("SLUICE_WALKTHROUGH_UNSET_KEY");
    QVERIFY(model->setData(model->index(0, EndpointTableModel::KeyEnv),
                           QStringLiteral("SLUICE_WALKTHROUGH_UNSET_KEY")));
    QSignalSpy refused(&window, &MainWindow::runRefused);
    window.run();
    QTRY_COMPARE_WITH_TIMEOUT(refused.count(), 1, 10000);
    QCoreApplication::processEvents();
    QCOMPARE(window.charts()->pointCount(LiveCharts::Series::Issued), points);
    QCOMPARE(model->data(model->index(0, EndpointTableModel::Ok)).toString(), okCell);
    QCOMPARE(window.lastSnapshot().succeeded, 200);
    QCOMPARE(window.findChild<QProgressBar *>()->value(), progress);
    QCOMPARE(progressText(window), progressLine);
}

// 8. "... opening a new file leaves the old progress on screen." (A CSV, whose Run is then refused.)
void tst_Walkthrough::openingAFileClearsTheOldProgress()
{
    SimulatorConfig config;
    config.latencyMs = 2;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    window.show();
    window.setUnattended(MainWindow::Unattended::Refuse);
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    QVERIFY(load(window, {e}, writeLines(100, QStringLiteral("first.jsonl"))));
    QVERIFY(runToEnd(window));
    QCOMPARE(window.findChild<QProgressBar *>()->value(), 1000);
    QVERIFY(!progressText(window).isEmpty());

    const QString csv = m_dir->filePath(QStringLiteral("table.csv"));
    QFile file(csv);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("id,prompt\n1,hello\n2,world\n");
    file.close();
    QSignalSpy preflight(&window, &MainWindow::preflightFinished);
    QVERIFY(window.openRequests(csv));
    QVERIFY(preflight.wait(10000));
    QCOMPARE(window.findChild<QProgressBar *>()->value(), 0);
    QVERIFY2(progressText(window).isEmpty(), qPrintable(progressText(window)));
    QSignalSpy refused(&window, &MainWindow::runRefused);
    window.run();
    QTRY_COMPARE_WITH_TIMEOUT(refused.count(), 1, 10000);
    QVERIFY2(refused.at(0).at(0).toString().contains(QStringLiteral("table.csv")),
             qPrintable(refused.at(0).at(0).toString()));
    QCOMPARE(window.findChild<QProgressBar *>()->value(), 0);
    QCOMPARE(sim.stats().requests, 100);
}

// 10. "Export is enabled before any run and ends in "Export failed: : cannot open: No file name
// specified"."
void tst_Walkthrough::exportIsOfferedOnlyAfterARun()
{
    MainWindow window;
    window.show();
    QMenu *exportMenu = nullptr;
    for (QMenu *menu : window.menuBar()->findChildren<QMenu *>()) {
        if (menu->title() == QStringLiteral("&Export")) {
            exportMenu = menu;
        }
    }
    QVERIFY(exportMenu);
    QCOMPARE(exportMenu->actions().size(), 7);
    for (QAction *action : exportMenu->actions()) {
        QVERIFY2(!action->isEnabled() || !exportMenu->isEnabled(), qPrintable(action->text()));
    }
    QVERIFY(!window.exportTo(MainWindow::Export::ResultsCsv, m_dir->filePath(QStringLiteral("r.csv"))));
    QVERIFY(!QFileInfo::exists(m_dir->filePath(QStringLiteral("r.csv"))));
    const QString log = logText(window);
    QVERIFY2(!log.contains(QStringLiteral("No file name specified")), qPrintable(log));
    QVERIFY2(!log.contains(QStringLiteral("Export failed: :")), qPrintable(log));

    // After a run, the exports are there.
    SimulatorConfig config;
    config.latencyMs = 2;
    Simulator sim(config);
    QVERIFY(sim.listen());
    QVERIFY(
        load(window, {EndpointConfig::fromUrl(sim.chatUrl(), 0)}, writeLines(20, QStringLiteral("x.jsonl"))));
    QVERIFY(runToEnd(window));
    QVERIFY(exportMenu->isEnabled());
    for (QAction *action : exportMenu->actions()) {
        QVERIFY2(action->isEnabled(), qPrintable(action->text()));
    }
    QVERIFY(window.exportTo(MainWindow::Export::ResultsCsv, m_dir->filePath(QStringLiteral("r.csv"))));
}

// 11. "Quit does not ask about unsaved endpoint changes; they are lost."
void tst_Walkthrough::quitAsksAboutUnsavedEndpoints()
{
    MainWindow window;
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    EndpointConfig e =
        EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:9/v1/chat/completions")), 0);
    e.name = QStringLiteral("e");
    window.endpointModel()->setEndpoints({e});
    // Closing a window with nothing edited asks nothing.
    {
        MainWindow untouched;
        untouched.show();
        QString asked;
        DialogAnswer answer(QMessageBox::Cancel, &asked);
        QVERIFY(untouched.close());
        QVERIFY2(asked.isEmpty(), qPrintable(asked));
    }
    // The operator edits a weight (as the table's editor does), then quits.
    QVERIFY(
        window.endpointModel()->setData(window.endpointModel()->index(0, EndpointTableModel::Weight), 5.0));
    QString asked;
    {
        DialogAnswer answer(QMessageBox::Cancel, &asked);
        QVERIFY(!window.close()); // Cancel: the window stays
    }
    QVERIFY2(asked.contains(QStringLiteral("not saved")), qPrintable(asked));
    QVERIFY(window.isVisible());
    QCOMPARE(window.endpointModel()->endpoints().at(0).weight, 5.0);
    asked.clear();
    {
        DialogAnswer answer(QMessageBox::Discard, &asked);
        QVERIFY(window.close());
    }
    QVERIFY(!asked.isEmpty());
}

// 12. "The predicted duration ignores edited limits (39 s predicted, 1 min 37 s taken)."
void tst_Walkthrough::predictionFollowsEditedLimits()
{
    MainWindow window;
    window.show();
    EndpointConfig e =
        EndpointConfig::fromUrl(QUrl(QStringLiteral("http://127.0.0.1:9/v1/chat/completions")), 0);
    e.name = QStringLiteral("e");
    QVERIFY(load(window, {e}, writeLines(600, QStringLiteral("predict.jsonl"))));
    const auto prediction = [&window] {
        for (const QLabel *label : window.centralWidget()->findChildren<QLabel *>()) {
            if (label->text().contains(QStringLiteral("Predicted duration"))) {
                return label->text();
            }
        }
        return QString();
    };
    const QString before = prediction();
    QVERIFY2(!before.contains(QStringLiteral("1 min 0 s")), qPrintable(before));
    // 600 requests at 600 a minute: one minute.
    EndpointTableModel *model = window.endpointModel();
    QVERIFY(model->setData(model->index(0, EndpointTableModel::Rpm), 600.0));
    QVERIFY2(prediction().contains(QStringLiteral("1 min 0 s")), qPrintable(prediction()));
    // Twice the rate: 30 s.
    QVERIFY(model->setData(model->index(0, EndpointTableModel::Rpm), 1200.0));
    QVERIFY2(prediction().contains(QStringLiteral("30 s")), qPrintable(prediction()));
}

// 12. "... a paused run keeps showing a rate and an ETA."
void tst_Walkthrough::pausedRunShowsNoRateOrEta()
{
    SimulatorConfig config;
    config.latencyMs = 20;
    Simulator sim(config);
    QVERIFY(sim.listen());
    MainWindow window;
    window.show();
    EndpointConfig e = EndpointConfig::fromUrl(sim.chatUrl(), 0);
    e.rpm = 3000;
    QVERIFY(load(window, {e}, writeLines(300, QStringLiteral("paused.jsonl"))));
    QSignalSpy finished(&window, &MainWindow::runFinished);
    window.run();
    QTRY_VERIFY_WITH_TIMEOUT(sim.stats().ok >= 30, 10000);
    QTRY_VERIFY(progressText(window).contains(QStringLiteral("ETA")));
    window.pause();
    QTRY_VERIFY_WITH_TIMEOUT(window.runState() == RunState::Paused, 5000);
    // Snapshots keep coming while paused (every 250 ms): what they show must not pretend to move.
    QTest::qWait(300);
    const qint64 seenAt = window.lastSnapshot().issued;
    QTest::qWait(600);
    QCOMPARE(window.lastSnapshot().issued, seenAt);
    const QString paused = progressText(window);
    QVERIFY2(!paused.contains(QStringLiteral("ETA")), qPrintable(paused));
    QVERIFY2(!paused.contains(QStringLiteral("req/s")), qPrintable(paused));
    QVERIFY2(paused.contains(QStringLiteral("Paused")), qPrintable(paused));
    window.resume();
    QVERIFY(finished.wait(30000));
    QCOMPARE(window.lastSnapshot().succeeded, 300);
}

QTEST_MAIN(tst_Walkthrough)
#include "tst_walkthrough.moc"
