#include "mainwindow.h"

#include "charts/livecharts.h"
#include "cost/costestimate.h"
#include "endpointdelegate.h"
#include "enginecontroller.h"
#include "exporter.h"
#include "gatewaycontroller.h"
#include "io/runfiles.h"
#include "keystore.h"
#include "models/endpointtablemodel.h"
#include "models/errorgroupsmodel.h"
#include "resultsbrowser.h"
#include "sim/simulatorhost.h"
#include "summarypanel.h"
#include "widgets/costgauge.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDragEnterEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QInputDialog>
#include <QLabel>
#include <QLineEdit>
#include <QListWidget>
#include <QLocale>
#include <QMenuBar>
#include <QMessageBox>
#include <QMimeData>
#include <QPlainTextEdit>
#include <QProgressBar>
#include <QPushButton>
#include <QRegularExpression>
#include <QScreen>
#include <QScrollBar>
#include <QSettings>
#include <QSplitter>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QThread>
#include <QTime>
#include <QTimer>
#include <QToolBar>
#include <QToolButton>
#include <QTreeView>
#include <QVBoxLayout>

#include <cmath>

// Resources of a static library must be registered by name, from the global namespace.
static void initSluiceResources()
{
    Q_INIT_RESOURCE(resources);
}

namespace Sluice::Gui {

namespace {

constexpr int MaxRecent = 8;
constexpr int MinTableRows = 3;  ///< the endpoints table never shows fewer rows than this
constexpr int MaxFittedRows = 8; ///< rows the table is given room for before it scrolls
constexpr int EditErrorMs = 8000;

QString count(qint64 n)
{
    return QLocale(QLocale::English).toString(n);
}

QString duration(double seconds)
{
    if (!std::isfinite(seconds) || seconds < 0) {
        return QStringLiteral("?");
    }
    const qint64 s = qint64(std::llround(seconds));
    if (s < 60) {
        return QStringLiteral("%1 s").arg(s);
    }
    if (s < 3600) {
        return QStringLiteral("%1 min %2 s").arg(s / 60).arg(s % 60);
    }
    return QStringLiteral("%1 h %2 min").arg(s / 3600).arg((s % 3600) / 60);
}

QString capitalized(QString text)
{
    if (!text.isEmpty()) {
        text[0] = text[0].toUpper();
    }
    return text;
}

QString number(double v)
{
    return QLocale(QLocale::English).toString(v, 'g', 10);
}

/// "name-results-2.jsonl" for "name-results.jsonl": the first numbered name free for both files.
QPair<QString, QString> numberedOutputs(const QString &results, const QString &errors)
{
    const auto numbered = [](const QString &path, int n) {
        const QFileInfo info(path);
        const QString suffix = info.suffix().isEmpty() ? QString() : QLatin1Char('.') + info.suffix();
        QString stem = info.completeBaseName();
        static const QRegularExpression already(QStringLiteral("-\\d+$"));
        stem.remove(already);
        return info.dir().filePath(stem + QLatin1Char('-') + QString::number(n) + suffix);
    };
    for (int n = 2;; ++n) {
        const QString r = numbered(results, n);
        const QString e = numbered(errors, n);
        if (!QFileInfo::exists(r) && !QFileInfo::exists(e) &&
            !QFileInfo::exists(RunFiles::journalPathFor(r))) {
            return {r, e};
        }
    }
}

} // namespace

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent)
    , m_controller(new EngineController(this))
    , m_gateway(new GatewayController(this))
    , m_endpoints(new EndpointTableModel(this))
    , m_errorGroups(new ErrorGroupsModel(this))
{
    initSluiceResources();
    setWindowTitle(QStringLiteral("Sluice[*]"));
    setWindowIcon(QIcon(QStringLiteral(":/sluice/icon.svg")));
    setAcceptDrops(true);
    buildActions();
    buildLayout();

    connect(m_controller, &EngineController::snapshotReady, this, &MainWindow::handleSnapshot);
    connect(m_controller, &EngineController::finished, this, &MainWindow::handleFinished);
    connect(m_controller, &EngineController::notice, this, &MainWindow::appendLog);
    connect(m_controller, &EngineController::started, this, &MainWindow::handleStarted);
    connect(m_controller, &EngineController::startFailed, this, &MainWindow::refuseRun);
    connect(m_gateway, &GatewayController::snapshotReady, this, &MainWindow::handleSnapshot);
    connect(m_gateway, &GatewayController::notice, this, &MainWindow::appendLog);
    connect(m_gateway, &GatewayController::stopped, this, [this] {
        appendLog(tr("Gateway stopped"));
        updateActions();
        Q_EMIT gatewayStopped();
    });
    connect(m_controller, &EngineController::stateChanged, this,
            [this](Sluice::RunState) { updateActions(); });
    connect(m_endpoints, &EndpointTableModel::liveEditRequested, this,
            [this](int row, const Sluice::EndpointConfig &e) {
                m_controller->retune(row, e);
                const EndpointConfig before = row < m_runEndpoints.size() ? m_runEndpoints.at(row) : e;
                QStringList changes;
                const auto change = [&changes](const QString &what, double from, double to) {
                    if (from != to) {
                        changes.append(QStringLiteral("%1 %2 → %3").arg(what, number(from), number(to)));
                    }
                };
                change(QStringLiteral("weight"), before.weight, e.weight);
                change(QStringLiteral("rpm"), before.rpm, e.rpm);
                change(QStringLiteral("tpm"), before.tpm, e.tpm);
                change(QStringLiteral("max in flight"), before.maxInFlight, e.maxInFlight);
                if (row < m_runEndpoints.size()) {
                    m_runEndpoints[row] = e;
                }
                const QString text = QStringLiteral("%1: %2 (live)")
                                         .arg(e.name, changes.isEmpty() ? QStringLiteral("no change")
                                                                        : changes.join(QStringLiteral(", ")));
                appendLog(text);
                addMarker(ChartMarker::Kind::Edit, text);
            });
    connect(m_endpoints, &EndpointTableModel::editRejected, this, &MainWindow::showEditError);
    connect(m_endpoints, &EndpointTableModel::configurationEdited, this, [this] {
        setDirty(true);
        m_editError->hide();
        showPrediction();
        updateActions();
    });
    connect(m_endpoints, &QAbstractItemModel::modelReset, this, [this] {
        m_endpointView->resizeColumnsToContents();
        fitTableToRows();
        showPrediction();
    });
    connect(m_endpoints, &QAbstractItemModel::rowsInserted, this, [this] { fitTableToRows(); });
    connect(
        m_endpoints, &QAbstractItemModel::dataChanged, this,
        [this](const QModelIndex &from, const QModelIndex &to) { fitColumns(from.column(), to.column()); });

    QSettings settings;
    m_existingOutputs = RunSettingsDialog::ExistingOutputs(
        std::clamp(settings.value(QStringLiteral("run/existingOutputs"), 0).toInt(), 0, 2));
    const QByteArray geometry = settings.value(QStringLiteral("window/geometry")).toByteArray();
    if (geometry.isEmpty() || !restoreGeometry(geometry)) {
        const QRect available = (screen() ? screen() : QGuiApplication::primaryScreen())->availableGeometry();
        resize(QSize(std::min(1360, available.width() * 92 / 100),
                     std::min(900, available.height() * 92 / 100)));
        move(available.center() - rect().center());
    }
    fitToScreen();
    rebuildRecentMenu();
    const QString lastProject = settings.value(QStringLiteral("project/last")).toString();
    if (!lastProject.isEmpty() && QFileInfo::exists(lastProject)) {
        openProject(lastProject);
    }
    updateSettingsButton();
    updateActions();
}

MainWindow::~MainWindow() = default;

void MainWindow::buildActions()
{
    QMenu *file = menuBar()->addMenu(tr("&File"));
    m_openAction = file->addAction(tr("&Open requests…"), this, [this] {
        const QString path =
            QFileDialog::getOpenFileName(this, tr("Open a request file"), QString(),
                                         tr("JSON Lines (*.jsonl *.json *.txt);;All files (*)"));
        if (!path.isEmpty()) {
            openRequests(path);
        }
    });
    m_openAction->setShortcut(QKeySequence::Open);
    m_openAction->setToolTip(tr("Open a JSONL request file (Ctrl+O); you can also drop one on the window"));
    m_recentMenu = file->addMenu(tr("Open &recent"));
    file->addSeparator();
    m_openProjectAction = file->addAction(tr("Open &project…"), this, [this] {
        const QString path = QFileDialog::getOpenFileName(this, tr("Open a project"), QString(),
                                                          tr("Sluice project (*.json)"));
        if (!path.isEmpty()) {
            openProject(path);
        }
    });
    m_openProjectAction->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_O));
    m_saveProjectAction = file->addAction(tr("&Save project…"), this, [this] {
        const QString path = QFileDialog::getSaveFileName(
            this, tr("Save the project"),
            m_projectPath.isEmpty() ? QStringLiteral("project.json") : m_projectPath,
            tr("Sluice project (*.json)"));
        if (!path.isEmpty()) {
            saveProject(path);
        }
    });
    m_saveProjectAction->setShortcut(QKeySequence::Save);
    m_saveProjectAction->setToolTip(
        tr("Save endpoints and limits (keys are never saved, only their variable names)"));
    file->addSeparator();
    m_exportMenu = file->addMenu(tr("&Export"));
    const auto addExport = [this](const QString &text, Export kind, const QKeySequence &key = {}) {
        QAction *a = m_exportMenu->addAction(text, this, [this, kind] { exportWithDialog(kind); });
        a->setShortcut(key);
        m_exportActions.insert(int(kind), a);
    };
    addExport(tr("Results as JSONL…"), Export::ResultsJsonl);
    addExport(tr("Results as CSV…"), Export::ResultsCsv);
    addExport(tr("Errors as JSONL…"), Export::ErrorsJsonl);
    addExport(tr("Errors as CSV…"), Export::ErrorsCsv);
    addExport(tr("Per-second history as CSV…"), Export::HistoryCsv);
    addExport(tr("Charts as PNG…"), Export::ChartsPng);
    addExport(tr("Run report (HTML)…"), Export::ReportHtml, QKeySequence(Qt::CTRL | Qt::Key_E));
    file->addSeparator();
    QAction *quit = file->addAction(tr("&Quit"), this, &QWidget::close);
    quit->setShortcut(QKeySequence::Quit);

    QMenu *runMenu = menuBar()->addMenu(tr("&Run"));
    m_runAction = runMenu->addAction(tr("&Run"), this, &MainWindow::run);
    m_runAction->setShortcut(QKeySequence(Qt::Key_F5));
    m_runAction->setToolTip(tr("Send every request of the loaded file (F5)"));
    m_pauseAction = runMenu->addAction(tr("&Pause"), this, [this] { m_paused ? resume() : pause(); });
    m_pauseAction->setShortcut(QKeySequence(Qt::Key_F6));
    m_pauseAction->setToolTip(tr("Stop sending new requests; those in flight finish (F6)"));
    m_stopAction = runMenu->addAction(tr("&Stop"), this, &MainWindow::stop);
    m_stopAction->setShortcut(QKeySequence(Qt::SHIFT | Qt::Key_F5));
    m_stopAction->setToolTip(tr("Wait for requests in flight, write everything, and end the run (Shift+F5)"));
    runMenu->addSeparator();
    m_settingsAction = runMenu->addAction(tr("Run &settings…"), this, &MainWindow::openRunSettings);
    m_settingsAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Comma));
    m_settingsAction->setToolTip(tr("Global limits, retries, timeouts and where the outputs go"));
    runMenu->addSeparator();
    m_retryAction = runMenu->addAction(tr("Retry &failed lines"), this, &MainWindow::retryFailures);
    m_retryAction->setToolTip(
        tr("Continue the last run and send again the lines that ended in its errors file (bad input "
           "lines stay there); successes are appended to the results"));
    m_tryAction = runMenu->addAction(tr("&Try it (simulated endpoints)"), this, &MainWindow::tryIt);
    m_tryAction->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_T));
    m_tryAction->setToolTip(
        tr("Run a demo batch against two built-in simulated endpoints: no keys, no network"));

    QMenu *gatewayMenu = menuBar()->addMenu(tr("&Gateway"));
    m_gatewayAction = gatewayMenu->addAction(tr("Start &gateway…"), this, [this] {
        if (m_gateway->isActive()) {
            stopGateway();
            return;
        }
        bool ok = false;
        const int port = QInputDialog::getInt(
            this, tr("Gateway"), tr("Serve the endpoints on 127.0.0.1, port (0: any free port):"), 8080, 0,
            65535, 1, &ok);
        if (ok) {
            startGateway(quint16(port));
        }
    });
    m_gatewayAction->setToolTip(
        tr("Serve the project's endpoints to local programs as an OpenAI/Anthropic-compatible server "
           "(sluice-cli serve): callers wait in a queue behind the same limits and balancing"));

    QMenu *endpoints = menuBar()->addMenu(tr("&Endpoints"));
    m_addEndpointAction = endpoints->addAction(tr("&Add"), this, [this] {
        const int row = m_endpoints->addEndpoint();
        if (row >= 0) {
            m_endpointView->setCurrentIndex(m_endpoints->index(row, EndpointTableModel::Name));
        }
    });
    m_duplicateEndpointAction = endpoints->addAction(tr("&Duplicate"), this, [this] {
        m_endpoints->duplicateEndpoint(m_endpointView->currentIndex().row());
    });
    m_removeEndpointAction = endpoints->addAction(
        tr("&Remove"), this, [this] { m_endpoints->removeEndpoint(m_endpointView->currentIndex().row()); });
    endpoints->addSeparator();
    m_storeKeyAction = endpoints->addAction(tr("&Store API key in keychain…"), this, [this] {
        const QString name = selectedEndpointName();
        if (name.isEmpty()) {
            QMessageBox::information(this, tr("Store API key"), tr("Select an endpoint first."));
            return;
        }
        bool ok = false;
        const QString key = QInputDialog::getText(
            this, tr("Store API key"),
            tr("API key for endpoint \"%1\" (kept in the OS keychain, used instead of its environment "
               "variable):")
                .arg(name),
            QLineEdit::Password, QString(), &ok);
        if (!ok || key.isEmpty()) {
            return;
        }
        QString error;
        if (!storeApiKey(name, key.toUtf8(), &error)) {
            QMessageBox::warning(this, tr("Store API key"),
                                 tr("The keychain did not store the key: %1").arg(error));
        }
    });
    m_forgetKeyAction = endpoints->addAction(tr("&Forget stored API key"), this, [this] {
        const QString name = selectedEndpointName();
        if (name.isEmpty()) {
            QMessageBox::information(this, tr("Forget API key"), tr("Select an endpoint first."));
            return;
        }
        QString error;
        if (!forgetApiKey(name, &error)) {
            QMessageBox::warning(this, tr("Forget API key"),
                                 tr("The keychain did not remove the key: %1").arg(error));
        }
    });

    QMenu *help = menuBar()->addMenu(tr("&Help"));
    help->addAction(tr("&About Sluice"), this, [this] {
        QMessageBox::about(
            this, tr("About Sluice"),
            tr("<b>Sluice %1</b><p>Push large batches of LLM API requests through rate-limited "
               "endpoints, without getting throttled and without losing a request.</p>")
                .arg(QStringLiteral(SLUICE_VERSION)));
    });

    QToolBar *bar = addToolBar(tr("Run"));
    bar->setObjectName(QStringLiteral("runToolBar"));
    bar->addAction(m_openAction);
    bar->addAction(m_runAction);
    bar->addAction(m_pauseAction);
    bar->addAction(m_stopAction);
    bar->addSeparator();
    bar->addAction(m_settingsAction);
    bar->addAction(m_tryAction);
}

void MainWindow::buildLayout()
{
    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);
    layout->setContentsMargins(6, 4, 6, 2);
    layout->setSpacing(3);

    // Batch: file and outputs, preflight summary (the invalid lines have their own tab).
    m_fileLabel = new QLabel(
        tr("No request file. Open one (Ctrl+O), drop one here, or press Try it (Ctrl+T)."), central);
    m_fileLabel->setObjectName(QStringLiteral("fileLabel"));
    m_fileLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_preflightLabel = new QLabel(central);
    m_preflightLabel->setObjectName(QStringLiteral("preflightLabel"));
    m_preflightLabel->setWordWrap(true);
    m_preflightLabel->setTextFormat(Qt::RichText);
    layout->addWidget(m_fileLabel);
    layout->addWidget(m_preflightLabel);

    // Endpoints above, tabs below; neither can be dragged shut.
    m_splitter = new QSplitter(Qt::Vertical, central);
    m_splitter->setObjectName(QStringLiteral("mainSplitter"));
    m_splitter->setChildrenCollapsible(false);
    m_endpointView = new QTableView(m_splitter);
    m_endpointView->setObjectName(QStringLiteral("endpointTable"));
    m_endpointView->setModel(m_endpoints);
    m_endpointView->setItemDelegate(new EndpointDelegate(m_endpointView));
    // Every column as wide as its content, growing with it (fitColumns); none stretched, so the last
    // one (Limit) is never squeezed when the table is wider than the window, and nothing wraps.
    m_endpointView->horizontalHeader()->setSectionResizeMode(QHeaderView::Interactive);
    m_endpointView->horizontalHeader()->setStretchLastSection(false);
    m_endpointView->setWordWrap(false);
    m_endpointView->verticalHeader()->setSectionResizeMode(QHeaderView::Fixed);
    m_endpointView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_endpointView->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed |
                                    QAbstractItemView::AnyKeyPressed);
    m_endpointView->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_endpointView->addActions({m_addEndpointAction, m_duplicateEndpointAction, m_removeEndpointAction});
    const int rowHeight = m_endpointView->verticalHeader()->defaultSectionSize();
    // Three rows stay in view, with the header and a horizontal scroll bar (the table is wide).
    m_endpointView->setMinimumHeight(m_endpointView->horizontalHeader()->sizeHint().height() +
                                     MinTableRows * rowHeight + 2 * m_endpointView->frameWidth() +
                                     m_endpointView->horizontalScrollBar()->sizeHint().height() + 2);
    m_editError = new QLabel(m_endpointView->viewport());
    m_editError->setObjectName(QStringLiteral("editError"));
    m_editError->setWordWrap(true);
    m_editError->setMaximumWidth(460);
    m_editError->setMargin(5);
    m_editError->setAutoFillBackground(true);
    m_editError->setStyleSheet(
        QStringLiteral("QLabel { background: #fde8e7; color: #8a1c16; border: 1px solid #e05048; }"));
    m_editError->hide();
    connect(m_endpointView->selectionModel(), &QItemSelectionModel::currentChanged, m_editError,
            &QWidget::hide);

    buildTabs();
    m_splitter->setStretchFactor(0, 0);
    m_splitter->setStretchFactor(1, 1);
    layout->addWidget(m_splitter, 1);

    auto *progressRow = new QHBoxLayout;
    m_progress = new QProgressBar(central);
    m_progress->setObjectName(QStringLiteral("progressBar"));
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_progress->setFormat(QStringLiteral("%p %"));
    m_progress->setMaximumWidth(260);
    m_progressLabel = new QLabel(central);
    m_progressLabel->setObjectName(QStringLiteral("progressLabel"));
    m_progressLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_progressLabel->setMinimumWidth(100);
    m_progressLabel->setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Preferred);
    progressRow->addWidget(m_progress);
    progressRow->addWidget(m_progressLabel, 1);
    layout->addLayout(progressRow);
    setCentralWidget(central);
    buildStatusBar();
}

void MainWindow::buildTabs()
{
    m_tabs = new QTabWidget(m_splitter);
    m_tabs->setObjectName(QStringLiteral("tabs"));
    m_charts = new LiveCharts(m_tabs);
    m_tabs->addTab(m_charts, tr("&Charts"));
    m_summary = new SummaryPanel(m_tabs);
    m_tabs->addTab(m_summary, tr("S&ummary"));
    m_resultsBrowser = new ResultsBrowser(m_tabs);
    m_tabs->addTab(m_resultsBrowser, tr("Re&cords"));
    m_errorView = new QTreeView(m_tabs);
    m_errorView->setObjectName(QStringLiteral("errorTree"));
    m_errorView->setModel(m_errorGroups);
    m_errorView->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_tabs->addTab(m_errorView, tr("E&rrors"));
    m_invalidList = new QListWidget(m_tabs);
    m_invalidList->setObjectName(QStringLiteral("invalidLines"));
    m_invalidList->setToolTip(tr("Lines that will go straight to the errors file, with the reason"));
    m_tabs->addTab(m_invalidList, tr("&Invalid lines"));
    m_log = new QPlainTextEdit(m_tabs);
    m_log->setObjectName(QStringLiteral("log"));
    m_log->setReadOnly(true);
    m_tabs->addTab(m_log, tr("&Log"));
    connect(m_tabs, &QTabWidget::currentChanged, this, [this](int index) {
        if (index == int(Tab::Records) && m_recordsPending) {
            m_recordsPending = false;
            m_resultsBrowser->load(m_resultsPath, m_recordsErrorsPath, m_requestsPath);
        }
    });
}

void MainWindow::buildStatusBar()
{
    m_stateLabel = new QLabel(tr("Idle"), this);
    m_stateLabel->setObjectName(QStringLiteral("stateLabel"));
    m_sharedLabel = new QLabel(this);
    m_sharedLabel->setObjectName(QStringLiteral("sharedLimitsLabel"));
    m_sharedLabel->hide();
    m_costGauge = new CostGauge(this);
    m_settingsButton = new QToolButton(this);
    m_settingsButton->setObjectName(QStringLiteral("settingsButton"));
    m_settingsButton->setAutoRaise(true);
    m_settingsButton->setToolTip(tr("Run settings: global limits, cost budget, retries, timeouts, outputs "
                                    "(Ctrl+,)"));
    connect(m_settingsButton, &QToolButton::clicked, this, &MainWindow::openRunSettings);
    statusBar()->addWidget(m_settingsButton);
    statusBar()->addPermanentWidget(m_costGauge);
    statusBar()->addPermanentWidget(m_sharedLabel);
    statusBar()->addPermanentWidget(m_stateLabel);
}

Sluice::RunState MainWindow::runState() const
{
    return m_controller->state();
}

void MainWindow::showTab(Tab tab)
{
    m_tabs->setCurrentIndex(int(tab));
}

QString MainWindow::logText() const
{
    return m_log->toPlainText();
}

void MainWindow::fitToScreen()
{
    QScreen *where = screen() ? screen() : QGuiApplication::primaryScreen();
    if (!where || isMaximized() || isFullScreen()) {
        return;
    }
    const QRect available = where->availableGeometry();
    // The window manager's frame is known once the window is shown; before that, allow for a title bar.
    QMargins frame(frameGeometry().left() - geometry().left(), frameGeometry().top() - geometry().top(),
                   frameGeometry().right() - geometry().right(),
                   frameGeometry().bottom() - geometry().bottom());
    if (!isVisible()) {
        frame = QMargins(std::max(frame.left(), 4), std::max(frame.top(), 32), std::max(frame.right(), 4),
                         std::max(frame.bottom(), 4));
    }
    const QSize room(available.width() - frame.left() - frame.right(),
                     available.height() - frame.top() - frame.bottom());
    const QSize size = this->size().boundedTo(room).expandedTo(minimumSizeHint().boundedTo(room));
    if (size != this->size()) {
        resize(size);
    }
    // Keep the whole frame on the screen (a saved position from a bigger screen, or drifted down).
    QRect outer(geometry().topLeft() - QPoint(frame.left(), frame.top()), size.grownBy(frame));
    outer.moveLeft(std::clamp(outer.left(), available.left(),
                              std::max(available.left(), available.right() - outer.width() + 1)));
    outer.moveTop(std::clamp(outer.top(), available.top(),
                             std::max(available.top(), available.bottom() - outer.height() + 1)));
    if (outer.topLeft() != frameGeometry().topLeft()) {
        move(outer.topLeft()); // move() places the frame
    }
}

void MainWindow::showEvent(QShowEvent *event)
{
    QMainWindow::showEvent(event);
    if (!m_fittedOnShow) {
        m_fittedOnShow = true;
        // Once the window manager has framed the window, check again with the real frame.
        QTimer::singleShot(0, this, [this] {
            fitToScreen();
            fitTableToRows();
        });
    }
}

void MainWindow::fitTableToRows()
{
    const QList<int> sizes = m_splitter->sizes();
    if (sizes.size() != 2) {
        return;
    }
    const int total = sizes.at(0) + sizes.at(1);
    if (total <= 0) {
        return;
    }
    const int rows = std::clamp(m_endpoints->rowCount(), MinTableRows, MaxFittedRows);
    const int want = m_endpointView->horizontalHeader()->height() +
                     rows * m_endpointView->verticalHeader()->defaultSectionSize() +
                     2 * m_endpointView->frameWidth() +
                     m_endpointView->horizontalScrollBar()->sizeHint().height() + 2;
    // The table takes what its rows need, up to 45 % of the room; the tabs the rest.
    const int table = std::max(m_endpointView->minimumHeight(), std::min(want, total * 45 / 100));
    m_splitter->setSizes({table, total - table});
}

void MainWindow::fitColumns(int first, int last)
{
    QHeaderView *header = m_endpointView->horizontalHeader();
    const int lastColumn = m_endpoints->columnCount() - 1;
    for (int column = std::max(0, first); column <= std::min(last, lastColumn); ++column) {
        const int need = std::max(static_cast<QAbstractItemView *>(m_endpointView)->sizeHintForColumn(column),
                                  header->sectionSizeHint(column));
        if (need > m_endpointView->columnWidth(column)) {
            m_endpointView->setColumnWidth(column, need);
        }
    }
}

void MainWindow::showEditError(const QModelIndex &index, const QString &reason)
{
    const QString column = m_endpoints->headerData(index.column(), Qt::Horizontal).toString();
    const QString name =
        m_endpoints->data(m_endpoints->index(index.row(), EndpointTableModel::Name)).toString();
    appendLog(tr("Edit refused (%1, %2): %3").arg(name, column, reason));
    m_editError->setText(reason);
    QWidget *viewport = m_endpointView->viewport();
    m_editError->setFixedWidth(std::max(120, std::min(420, viewport->width() - 8)));
    m_editError->setFixedHeight(m_editError->heightForWidth(m_editError->width()));
    const QRect cell = m_endpointView->visualRect(index);
    QPoint at = cell.bottomLeft() + QPoint(0, 2);
    if (at.y() + m_editError->height() > viewport->height()) {
        at.setY(std::max(0, cell.top() - m_editError->height() - 2)); // above the cell, when below is off
    }
    at.setX(std::clamp(at.x(), 0, std::max(0, viewport->width() - m_editError->width())));
    m_editError->move(at);
    m_editError->show();
    m_editError->raise();
    QTimer::singleShot(EditErrorMs, m_editError, [label = m_editError, reason] {
        if (label->text() == reason) {
            label->hide();
        }
    });
    statusBar()->showMessage(reason, EditErrorMs);
}

void MainWindow::setDirty(bool dirty)
{
    m_dirty = dirty;
    setWindowModified(dirty);
}

bool MainWindow::settleUnsavedChanges(const QString &what)
{
    if (!m_dirty || m_unattended != Unattended::Attended) {
        return true;
    }
    QMessageBox box(
        QMessageBox::Warning, tr("Unsaved changes"),
        tr("The endpoints or run settings have changes that are not saved in a project.\n\n%1").arg(what),
        QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, this);
    box.setObjectName(QStringLiteral("unsavedChanges"));
    box.setDefaultButton(QMessageBox::Save);
    const int answer = box.exec();
    if (answer == QMessageBox::Discard) {
        return true;
    }
    if (answer != QMessageBox::Save) {
        return false;
    }
    const QString path =
        QFileDialog::getSaveFileName(this, tr("Save the project"),
                                     m_projectPath.isEmpty() ? QStringLiteral("project.json") : m_projectPath,
                                     tr("Sluice project (*.json)"));
    return !path.isEmpty() && saveProject(path);
}

void MainWindow::updateActions()
{
    const bool running = m_controller->isActive();
    const bool serving = m_gateway->isActive();
    const bool active = running || serving;
    const bool haveInput = !m_requestsPath.isEmpty() && !m_preflightRunning;
    m_runAction->setEnabled(!active && haveInput && !m_endpoints->endpoints().isEmpty());
    m_pauseAction->setEnabled(running);
    m_pauseAction->setText(m_paused ? tr("&Resume") : tr("&Pause"));
    m_stopAction->setEnabled(running);
    m_gatewayAction->setEnabled(!running);
    m_gatewayAction->setText(serving ? tr("Stop &gateway (port %1)").arg(m_gateway->port())
                                     : tr("Start &gateway…"));
    m_retryAction->setEnabled(!active && haveInput && !m_endpoints->endpoints().isEmpty() &&
                              QFileInfo::exists(RunFiles::journalPathFor(m_resultsPath)) &&
                              QFileInfo(m_errorsPath).size() > 0);
    m_tryAction->setEnabled(!active);
    m_settingsAction->setEnabled(!active);
    m_settingsButton->setEnabled(!active);
    m_openAction->setEnabled(!active);
    m_openProjectAction->setEnabled(!active);
    m_addEndpointAction->setEnabled(!active);
    m_duplicateEndpointAction->setEnabled(!active);
    m_removeEndpointAction->setEnabled(!active);
    m_storeKeyAction->setEnabled(!active);
    m_forgetKeyAction->setEnabled(!active);
    m_endpoints->setRunning(active);
    for (auto it = m_exportActions.cbegin(); it != m_exportActions.cend(); ++it) {
        const QString problem = exportProblem(Export(it.key()));
        it.value()->setEnabled(problem.isEmpty());
        it.value()->setToolTip(problem);
    }
    m_exportMenu->setEnabled(std::any_of(m_exportActions.cbegin(), m_exportActions.cend(),
                                         [](const QAction *a) { return a->isEnabled(); }));
    const Sluice::RunState state = m_controller->state();
    m_stateLabel->setText(serving   ? tr("Gateway on port %1").arg(m_gateway->port())
                          : running ? (m_paused ? tr("Paused") : capitalized(Sluice::toString(state)))
                          : m_ending == Ending::Stopped  ? tr("Stopped")
                          : m_ending == Ending::Finished ? tr("Finished")
                                                         : tr("Idle"));
}

void MainWindow::updateSettingsButton()
{
    const RunSettingsDialog::Settings s = runSettings();
    QStringList parts;
    parts << (s.limits.rps > 0 ? tr("global %1 req/s").arg(number(s.limits.rps))
                               : tr("no global req/s limit"));
    if (s.limits.tpm > 0) {
        parts << tr("%1 tokens/min").arg(number(s.limits.tpm));
    }
    if (s.limits.maxCostUsd > 0) {
        parts << tr("budget %1").arg(CostEstimate::formatUsd(s.limits.maxCostUsd));
    }
    parts << (s.limits.retry.maxAttempts == 1 ? tr("no retries")
                                              : tr("%1 attempts").arg(s.limits.retry.maxAttempts));
    parts << (s.timeoutsDiffer ? tr("timeouts per endpoint") : tr("timeout %1 s").arg(number(s.timeoutS)));
    m_settingsButton->setText(tr("Run settings: %1").arg(parts.join(QStringLiteral(" · "))));
}

bool MainWindow::openRequests(const QString &path)
{
    if (m_controller->isActive() || m_gateway->isActive()) {
        return false;
    }
    if (!QFileInfo(path).isFile()) {
        QMessageBox::warning(this, tr("Open requests"), tr("%1 is not a readable file.").arg(path));
        return false;
    }
    const QString absolute = QFileInfo(path).absoluteFilePath();
    if (absolute != m_requestsPath && m_customOutputs) {
        m_customOutputs = false; // chosen for the previous file
        appendLog(tr("Outputs go beside the new input again (they were set for %1).").arg(m_requestsPath));
    }
    m_requestsPath = absolute;
    if (!m_customOutputs) {
        m_resultsPath = defaultOutput(QStringLiteral("results"));
        m_errorsPath = defaultOutput(QStringLiteral("errors"));
    }
    m_fileLabel->setText(tr("<b>%1</b> → %2, %3")
                             .arg(m_requestsPath.toHtmlEscaped(),
                                  QFileInfo(m_resultsPath).fileName().toHtmlEscaped(),
                                  QFileInfo(m_errorsPath).fileName().toHtmlEscaped()));
    m_preflightLabel->setText(tr("Reading the file…"));
    m_invalidList->clear();
    m_tabs->setTabText(int(Tab::InvalidLines), tr("&Invalid lines"));
    clearRunView();
    addRecent(m_requestsPath);

    m_preflightRunning = true;
    updateActions();
    auto report = std::make_shared<PreflightReport>();
    QThread *scan = QThread::create([report, path = m_requestsPath] { *report = Preflight::scan(path); });
    connect(scan, &QThread::finished, this, [this, scan, report, path = m_requestsPath] {
        scan->deleteLater();
        if (path != m_requestsPath) {
            return; // another file was opened meanwhile
        }
        m_preflight = *report;
        m_preflightRunning = false;
        showPreflight();
        updateActions();
        Q_EMIT preflightFinished();
    });
    scan->start();
    return true;
}

void MainWindow::clearRunView()
{
    m_charts->clear();
    m_errorGroups->clear();
    m_endpoints->clearStats();
    m_summary->clear();
    m_costGauge->clear();
    m_resultsBrowser->clear();
    m_recordsPending = false;
    m_events.reset();
    m_last = MetricsSnapshot();
    m_haveRun = false;
    m_lastWasRun = false;
    m_ending = Ending::None;
    m_progress->setValue(0);
    m_progressLabel->setText(m_requestsPath.isEmpty() ? QString() : tr("Not started."));
    updateActions();
}

void MainWindow::showPreflight()
{
    const PreflightReport &r = m_preflight;
    m_invalidList->clear();
    for (const InputError &e : r.invalidLines) {
        auto *item = new QListWidgetItem(e.message, m_invalidList);
        item->setData(Qt::UserRole, e.line);
    }
    m_tabs->setTabText(int(Tab::InvalidLines), r.invalid > 0 ? tr("&Invalid lines (%1)").arg(count(r.invalid))
                                                             : tr("&Invalid lines"));
    showPrediction();
}

void MainWindow::showPrediction()
{
    if (m_requestsPath.isEmpty() || m_preflightRunning) {
        return;
    }
    const PreflightReport &r = m_preflight;
    if (!r.error.isEmpty()) {
        m_preflightLabel->setText(tr("Cannot read the file: %1").arg(r.error.toHtmlEscaped()));
        return;
    }
    QStringList formats;
    for (auto it = r.formats.cbegin(); it != r.formats.cend(); ++it) {
        formats.append(QStringLiteral("%1 %2").arg(count(it.value()), it.key()));
    }
    // Recomputed whenever an endpoint or a run setting changes, so it always matches what Run would use.
    const double seconds = Preflight::predictSeconds(r, currentProject());
    m_preflightLabel->setText(
        tr("%1 requests (%2), %3 invalid lines%4, about %5 prompt tokens and up to %6 output tokens. "
           "Predicted duration with these limits: %7.")
            .arg(count(r.requests), formats.join(QStringLiteral(", ")).toHtmlEscaped(), count(r.invalid),
                 r.invalid > 0 ? tr(" (see the Invalid lines tab)") : QString(),
                 count(qint64(r.promptTokens)), count(qint64(r.maxOutputTokens)),
                 seconds < 0     ? tr("unbounded by limits")
                 : seconds < 0.5 ? tr("under a second")
                                 : duration(seconds)) +
        QStringLiteral("<br>") + costPrediction());
}

QString MainWindow::costPrediction()
{
    // The same estimate as `sluice-cli run --dry-run` (the whole of it in the tooltip).
    const CostEstimate est = CostEstimate::compute(m_preflight, currentProject(), QString());
    m_unpriced = est.unpriced;
    m_costGauge->setUnpriced(est.unpriced);
    m_preflightLabel->setToolTip(est.describe().join(QLatin1Char('\n')));
    QStringList shares;
    for (const CostEstimate::Endpoint &e : est.endpoints) {
        shares.append(tr("%1 %2 %: %3–%4")
                          .arg(e.name.toHtmlEscaped())
                          .arg(e.share * 100.0, 0, 'f', 0)
                          .arg(CostEstimate::formatUsd(e.lowUsd), CostEstimate::formatUsd(e.highUsd)));
    }
    QString text = est.pricedLines > 0
                       ? tr("Estimated cost: <b>%1 to %2</b> (output from none to max_tokens; %3).")
                             .arg(CostEstimate::formatUsd(est.lowUsd), CostEstimate::formatUsd(est.highUsd),
                                  shares.join(QStringLiteral(", ")))
                       : tr("Estimated cost: not known (no line is priced at every endpoint it may go to).");
    if (!est.unpriced.isEmpty()) {
        text += QLatin1Char(' ') +
                tr("<b>Unpriced</b>: %L1 lines go to models without a price (%2); they are not "
                   "in the estimate nor in the spend. Give the endpoint a \"price\" block.")
                    .arg(est.unpricedLines)
                    .arg(est.unpriced.join(QStringLiteral(", ")).toHtmlEscaped());
    }
    if (est.budgetUsd > 0) {
        text += QLatin1Char(' ') + est.describe().constLast().toHtmlEscaped(); // the verdict on the budget
    }
    return text;
}

bool MainWindow::openProject(const QString &path)
{
    auto loaded = ProjectConfig::load(path);
    if (!loaded) {
        QMessageBox::warning(this, tr("Open project"), loaded.error().message);
        return false;
    }
    if (!settleUnsavedChanges(tr("Opening %1 replaces them.").arg(QFileInfo(path).fileName()))) {
        return false;
    }
    m_endpoints->setEndpoints(loaded->endpoints);
    m_limits = loaded->limits;
    m_shared = loaded->shared;
    m_costGauge->setBudget(m_limits.maxCostUsd);
    m_projectPath = QFileInfo(path).absoluteFilePath();
    setDirty(false);
    QSettings().setValue(QStringLiteral("project/last"), m_projectPath);
    appendLog(tr("Project %1: %n endpoint(s)", nullptr, int(loaded->endpoints.size())).arg(m_projectPath));
    updateSettingsButton();
    showPrediction();
    updateActions();
    return true;
}

Sluice::ProjectConfig MainWindow::currentProject() const
{
    ProjectConfig project;
    project.endpoints = m_endpoints->endpoints();
    project.limits = m_limits;
    project.shared = m_shared;
    return project;
}

bool MainWindow::saveProject(const QString &path)
{
    const ProjectConfig project = currentProject();
    if (auto valid = project.validate(QFileInfo(path).fileName()); !valid) {
        QMessageBox::warning(this, tr("Save project"), valid.error().message);
        return false;
    }
    if (auto saved = project.save(path); !saved) {
        QMessageBox::warning(this, tr("Save project"), saved.error().message);
        return false;
    }
    m_projectPath = QFileInfo(path).absoluteFilePath();
    setDirty(false);
    QSettings().setValue(QStringLiteral("project/last"), m_projectPath);
    statusBar()->showMessage(tr("Saved %1").arg(m_projectPath), 5000);
    appendLog(tr("Project saved: %1").arg(m_projectPath));
    return true;
}

void MainWindow::setOutputPaths(const QString &results, const QString &errors)
{
    m_customOutputs = !results.isEmpty() || !errors.isEmpty();
    m_resultsPath = m_customOutputs ? results : defaultOutput(QStringLiteral("results"));
    m_errorsPath = m_customOutputs ? errors : defaultOutput(QStringLiteral("errors"));
    if (!m_requestsPath.isEmpty()) {
        m_fileLabel->setText(tr("<b>%1</b> → %2, %3")
                                 .arg(m_requestsPath.toHtmlEscaped(), m_resultsPath.toHtmlEscaped(),
                                      m_errorsPath.toHtmlEscaped()));
    }
    updateActions();
}

RunSettingsDialog::Settings MainWindow::runSettings() const
{
    RunSettingsDialog::Settings s;
    s.limits = m_limits;
    const QList<EndpointConfig> endpoints = m_endpoints->endpoints();
    if (!endpoints.isEmpty()) {
        s.timeoutS = endpoints.first().timeoutS;
        s.timeoutsDiffer = std::any_of(endpoints.cbegin(), endpoints.cend(),
                                       [&](const EndpointConfig &e) { return e.timeoutS != s.timeoutS; });
    }
    if (m_customOutputs) {
        s.resultsPath = m_resultsPath;
        s.errorsPath = m_errorsPath;
    }
    s.existing = m_existingOutputs;
    return s;
}

void MainWindow::setRunSettings(const RunSettingsDialog::Settings &s)
{
    const RunSettingsDialog::Settings before = runSettings();
    const bool limitsChanged = s.limits.rps != m_limits.rps || s.limits.tpm != m_limits.tpm ||
                               s.limits.retry.maxAttempts != m_limits.retry.maxAttempts ||
                               s.limits.retry.baseDelayMs != m_limits.retry.baseDelayMs ||
                               s.limits.retry.maxDelayMs != m_limits.retry.maxDelayMs ||
                               s.limits.maxCostUsd != m_limits.maxCostUsd ||
                               s.limits.allowUnpriced != m_limits.allowUnpriced;
    m_limits = s.limits;
    m_costGauge->setBudget(m_limits.maxCostUsd);
    bool timeoutsChanged = false;
    if (!s.timeoutsDiffer) {
        QList<EndpointConfig> endpoints = m_endpoints->endpoints();
        for (EndpointConfig &e : endpoints) {
            timeoutsChanged = timeoutsChanged || e.timeoutS != s.timeoutS;
            e.timeoutS = s.timeoutS;
        }
        if (timeoutsChanged) {
            m_endpoints->setEndpoints(endpoints);
        }
    }
    m_existingOutputs = s.existing;
    QSettings().setValue(QStringLiteral("run/existingOutputs"), int(s.existing));
    if (s.resultsPath != before.resultsPath || s.errorsPath != before.errorsPath) {
        setOutputPaths(s.resultsPath, s.errorsPath);
        appendLog(tr("Outputs: %1, %2").arg(m_resultsPath, m_errorsPath));
    }
    if (limitsChanged || timeoutsChanged) {
        setDirty(true);
        appendLog(
            tr("Run settings: global %1 req/s, %2 tokens/min; %3 attempts, backoff %4–%5 ms; timeout %6; "
               "budget %7")
                .arg(s.limits.rps > 0 ? number(s.limits.rps) : tr("unlimited"),
                     s.limits.tpm > 0 ? number(s.limits.tpm) : tr("unlimited"))
                .arg(s.limits.retry.maxAttempts)
                .arg(number(s.limits.retry.baseDelayMs), number(s.limits.retry.maxDelayMs),
                     s.timeoutsDiffer ? tr("per endpoint") : number(s.timeoutS) + QStringLiteral(" s"),
                     s.limits.maxCostUsd > 0 ? CostEstimate::formatUsd(s.limits.maxCostUsd) : tr("none")));
    }
    updateSettingsButton();
    showPrediction();
    updateActions();
}

void MainWindow::openRunSettings()
{
    if (m_controller->isActive() || m_gateway->isActive()) {
        return;
    }
    RunSettingsDialog dialog(runSettings(), m_requestsPath, this);
    if (dialog.exec() == QDialog::Accepted) {
        setRunSettings(dialog.settings());
    }
}

QString MainWindow::defaultOutput(const QString &suffix) const
{
    const QFileInfo input(m_requestsPath);
    return input.dir().filePath(input.completeBaseName() + QLatin1Char('-') + suffix +
                                QStringLiteral(".jsonl"));
}

void MainWindow::run()
{
    startRun(RunOptions::Mode::Fresh);
}

void MainWindow::retryFailures()
{
    startRun(RunOptions::Mode::RetryErrors);
}

MainWindow::Unattended MainWindow::askAboutInterruptedRun(qint64 done)
{
    QMessageBox box(QMessageBox::Question, tr("Interrupted run"),
                    tr("%1 holds a run that was interrupted after %L2 lines.\n\nResume sends only "
                       "the lines that have no record yet. Start over replaces the results and "
                       "errors files.")
                        .arg(QFileInfo(m_resultsPath).fileName())
                        .arg(done),
                    QMessageBox::Cancel, this);
    QPushButton *resumeButton = box.addButton(tr("&Resume"), QMessageBox::AcceptRole);
    QPushButton *retryButton = box.addButton(tr("Resume and retry &failures"), QMessageBox::AcceptRole);
    QPushButton *overButton = box.addButton(tr("&Start over"), QMessageBox::DestructiveRole);
    box.setDefaultButton(resumeButton);
    box.exec();
    if (box.clickedButton() == resumeButton) {
        return Unattended::Resume;
    }
    if (box.clickedButton() == retryButton) {
        return Unattended::RetryErrors;
    }
    if (box.clickedButton() == overButton) {
        return Unattended::StartOver;
    }
    return Unattended::Attended;
}

bool MainWindow::settleExistingOutputs()
{
    const qint64 bytes = QFileInfo(m_resultsPath).size() + QFileInfo(m_errorsPath).size();
    if (bytes <= 0) {
        return true;
    }
    using E = RunSettingsDialog::ExistingOutputs;
    E choice = m_existingOutputs;
    if (choice == E::Ask && m_unattended == Unattended::Attended) {
        QMessageBox box(QMessageBox::Question, tr("Earlier results"),
                        tr("%1 and %2 hold the records of an earlier run.\n\nWrite this run to new files and "
                           "keep them, or replace them?")
                            .arg(QFileInfo(m_resultsPath).fileName(), QFileInfo(m_errorsPath).fileName()),
                        QMessageBox::Cancel, this);
        box.setObjectName(QStringLiteral("existingOutputsQuestion"));
        QPushButton *newFiles = box.addButton(tr("Write &new files"), QMessageBox::AcceptRole);
        QPushButton *replace = box.addButton(tr("&Replace"), QMessageBox::DestructiveRole);
        box.setDefaultButton(newFiles);
        box.exec();
        if (box.clickedButton() == newFiles) {
            choice = E::NewFiles;
        } else if (box.clickedButton() == replace) {
            choice = E::Replace;
        } else {
            return false;
        }
    }
    if (choice == E::NewFiles) {
        const auto [results, errors] = numberedOutputs(m_resultsPath, m_errorsPath);
        appendLog(tr("Earlier records kept: this run writes %1 and %2").arg(results, errors));
        setOutputPaths(results, errors);
    } else {
        appendLog(tr("Replacing the earlier run's records in %1 and %2").arg(m_resultsPath, m_errorsPath));
    }
    return true;
}

void MainWindow::startRun(RunOptions::Mode mode)
{
    if (m_controller->isActive() || m_gateway->isActive() || m_requestsPath.isEmpty()) {
        return;
    }
    ProjectConfig project = currentProject();
    if (auto valid = project.validate(tr("project")); !valid) {
        refuseRun(valid.error().message);
        return;
    }
    RunOptions options;
    options.requestsPath = m_requestsPath;
    options.mode = mode;
    const RunFiles::Existing existing = RunFiles::inspect(m_resultsPath);
    const qint64 done = existing.linesDone;
    if (mode == RunOptions::Mode::Fresh && existing.unfinished) {
        switch (m_unattended == Unattended::Attended ? askAboutInterruptedRun(done) : m_unattended) {
        case Unattended::Resume:
            options.mode = RunOptions::Mode::Resume;
            break;
        case Unattended::RetryErrors:
            options.mode = RunOptions::Mode::RetryErrors;
            break;
        case Unattended::StartOver:
            options.overwrite = true;
            break;
        case Unattended::Refuse:
            refuseRun(tr("%1 holds an unfinished run (%L2 lines done): pass --resume, --retry-errors or "
                         "--overwrite")
                          .arg(m_resultsPath)
                          .arg(done));
            return;
        case Unattended::Attended: // the operator cancelled
            return;
        }
    } else if (mode == RunOptions::Mode::Fresh && !settleExistingOutputs()) {
        return;
    }
    options.outPath = m_resultsPath;
    options.errorsPath = m_errorsPath;
    // Keys stored in the OS keychain take the place of the endpoints' environment variables. Only
    // the endpoint names are logged; an unavailable keychain just yields nothing.
    const KeyStore keyStore;
    QStringList fromKeychain;
    for (const EndpointConfig &e : std::as_const(project.endpoints)) {
        const QByteArray key = keyStore.read(e.name);
        if (!key.isEmpty()) {
            options.apiKeys.insert(e.name, key);
            fromKeychain.append(e.name);
        }
    }
    // What the window shows of the last run stays until this one has really started (handleStarted):
    // a refused run leaves it as it was.
    if (auto started = m_controller->start(project, options); !started) {
        refuseRun(started.error().message);
        return;
    }
    m_awaitingStart = true;
    m_startMode = options.mode;
    m_keysFromKeychain = fromKeychain;
    m_runEndpoints = project.endpoints;
    appendLog(tr("Starting: %1 → %2").arg(m_requestsPath, m_resultsPath));
    updateActions();
}

void MainWindow::refuseRun(const QString &reason)
{
    m_awaitingStart = false;
    appendLog(tr("Run refused: %1").arg(reason));
    updateActions();
    if (m_unattended == Unattended::Attended) {
        QMessageBox::warning(this, tr("Run"), reason);
    }
    Q_EMIT runRefused(reason);
}

void MainWindow::handleStarted(const MetricsSnapshot &s)
{
    m_awaitingStart = false;
    clearRunView();
    m_haveRun = true;
    m_lastWasRun = true;
    m_paused = false;
    m_stopRequested = false;
    m_progressLabel->setText(tr("Started."));
    if (!m_keysFromKeychain.isEmpty()) {
        appendLog(
            tr("API keys from the keychain for: %1").arg(m_keysFromKeychain.join(QStringLiteral(", "))));
    }
    if (m_startMode == RunOptions::Mode::Fresh) {
        appendLog(tr("Run started: %1 → %2").arg(m_requestsPath, m_resultsPath));
    } else {
        appendLog(tr("Run resumed: %1 → %2; %L3 lines already had records (%L4 results, %L5 errors)%6")
                      .arg(m_requestsPath, m_resultsPath)
                      .arg(s.resumedSucceeded + s.resumedFailed)
                      .arg(s.resumedSucceeded)
                      .arg(s.resumedFailed)
                      .arg(m_startMode == RunOptions::Mode::RetryErrors ? tr("; failed lines are sent again")
                                                                        : QString()));
    }
    updateActions();
}

void MainWindow::addMarker(ChartMarker::Kind kind, const QString &text)
{
    m_charts->addMarker({m_last.elapsedMs / 1000.0, kind, text});
}

void MainWindow::pause()
{
    if (m_controller->isActive() && !m_paused && !m_stopRequested) {
        m_paused = true;
        m_controller->pause();
        appendLog(tr("Paused: no new requests; those in flight finish."));
        addMarker(ChartMarker::Kind::Run, tr("paused"));
        showProgress(m_last);
        updateActions();
    }
}

void MainWindow::resume()
{
    if (m_controller->isActive() && m_paused) {
        m_paused = false;
        m_controller->resume();
        appendLog(tr("Resumed."));
        addMarker(ChartMarker::Kind::Run, tr("resumed"));
        showProgress(m_last);
        updateActions();
    }
}

void MainWindow::stop()
{
    if (m_controller->isActive()) {
        m_paused = false;
        m_stopRequested = true;
        m_controller->stop();
        appendLog(tr("Stopping: waiting for the requests in flight, then writing everything; lines not "
                     "sent yet stay unsent."));
        addMarker(ChartMarker::Kind::Run, tr("stop"));
        showProgress(m_last);
        updateActions();
    }
}

void MainWindow::tryIt()
{
    if (m_controller->isActive() || m_gateway->isActive()) {
        return;
    }
    if (!settleUnsavedChanges(tr("Try it replaces the endpoints with two simulated ones."))) {
        return;
    }
    // The bundled demo batch, written where the app may write, and two simulated endpoints.
    const QString dir =
        QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) + QStringLiteral("/try-it");
    QDir().mkpath(dir);
    const QString demo = dir + QStringLiteral("/demo.jsonl");
    QFile::remove(demo);
    if (!QFile::copy(QStringLiteral(":/sluice/demo.jsonl"), demo)) {
        QMessageBox::warning(this, tr("Try it"), tr("Cannot write the demo batch to %1").arg(dir));
        return;
    }
    QFile::setPermissions(demo, QFile::ReadOwner | QFile::WriteOwner);
    // The demo's own outputs: every Try it starts afresh (nothing of the operator's is replaced).
    for (const QString &name : {QStringLiteral("demo-results.jsonl"), QStringLiteral("demo-errors.jsonl")}) {
        QFile::remove(dir + QLatin1Char('/') + name);
        QFile::remove(RunFiles::journalPathFor(dir + QLatin1Char('/') + name));
    }
    m_simulators.clear();
    SimulatorConfig sim;
    sim.latencyMs = 40;
    sim.jitterMs = 60;
    sim.errorRate = 0.02;
    QList<EndpointConfig> endpoints;
    for (int i = 0; i < 2; ++i) {
        auto host = std::make_unique<SimulatorHost>(sim);
        const auto port = host->listen(0);
        if (!port) {
            QMessageBox::warning(this, tr("Try it"), port.error().message);
            return;
        }
        EndpointConfig e = EndpointConfig::simulatedDemo(
            QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(*port)), i);
        // The demo's limits are its endpoints' own, in the table where they show and can be edited, so
        // the run lasts long enough to watch and re-weight (200 requests/s in all). Nothing run-wide:
        // endpoints added or opened afterwards are not held to the demo's pace.
        e.rpm = i == 0 ? 9000 : 3000;
        endpoints.append(e);
        m_simulators.push_back(std::move(host));
    }
    m_endpoints->setEndpoints(endpoints);
    m_limits = LimitsConfig();
    m_shared = SharedConfig();
    m_costGauge->setBudget(0);
    m_projectPath.clear();
    setDirty(false);
    updateSettingsButton();
    setOutputPaths(QString(), QString());
    appendLog(tr("Try it: two simulated endpoints on 127.0.0.1 (sim-a weight 3 at 9,000 rpm, sim-b weight 1 "
                 "at 3,000 rpm). Change a weight while it runs and watch the split in the table."));
    if (!openRequests(demo)) {
        return;
    }
    // Run as soon as the preflight is done.
    auto *once = new QObject(this);
    connect(this, &MainWindow::preflightFinished, once, [this, once] {
        once->deleteLater();
        run();
    });
}

quint16 MainWindow::gatewayPort() const
{
    return m_gateway->isActive() ? m_gateway->port() : 0;
}

bool MainWindow::startGateway(quint16 port)
{
    if (m_controller->isActive() || m_gateway->isActive()) {
        return false;
    }
    const ProjectConfig project = currentProject();
    if (auto valid = project.validate(tr("project")); !valid) {
        QMessageBox::warning(this, tr("Gateway"), valid.error().message);
        return false;
    }
    GatewayOptions options;
    options.port = port;
    const KeyStore keyStore;
    for (const EndpointConfig &e : std::as_const(project.endpoints)) {
        const QByteArray key = keyStore.read(e.name);
        if (!key.isEmpty()) {
            options.apiKeys.insert(e.name, key);
        }
    }
    const auto started = m_gateway->start(project, options);
    if (!started) {
        QMessageBox::warning(this, tr("Gateway"), started.error().message);
        return false;
    }
    clearRunView();
    m_haveRun = true;
    m_runEndpoints = project.endpoints;
    appendLog(tr("Gateway listening on http://127.0.0.1:%1 (POST /v1/chat/completions, /v1/messages; GET "
                 "/health, /status, /metrics)")
                  .arg(*started));
    updateActions();
    return true;
}

void MainWindow::stopGateway()
{
    if (m_gateway->isActive()) {
        appendLog(tr("Stopping the gateway: waiting callers get 503"));
        m_gateway->stop();
    }
}

void MainWindow::handleSnapshot(const Sluice::MetricsSnapshot &s)
{
    if (m_awaitingStart) {
        return; // the view still shows the last run until this one has started
    }
    m_last = s;
    m_endpoints->applySnapshot(s);
    m_charts->addSnapshot(s);
    for (const ChartMarker &event : m_events.update(s)) {
        appendLog(event.text);
        m_charts->addMarker(event);
    }
    m_costGauge->setCost(s.cost, s.notStarted);
    m_sharedLabel->setVisible(s.shared.enabled);
    if (s.shared.enabled) {
        m_sharedLabel->setText(tr("Shared limits (%1): Redis %2, %3 processes")
                                   .arg(s.shared.nameSpace, s.shared.state)
                                   .arg(s.shared.processes));
    }
    showProgress(s);
}

void MainWindow::showProgress(const Sluice::MetricsSnapshot &s)
{
    if (m_gateway->isActive()) {
        m_progress->setValue(0);
        m_progressLabel->setText(tr("Gateway on port %1 · %2 ok · %3 failed · %4 req/s · %5 queued · %6 in "
                                    "flight · 429s %7")
                                     .arg(m_gateway->port())
                                     .arg(count(s.succeeded), count(s.failed),
                                          QString::number(s.currentRps, 'f', 0), count(s.queued),
                                          count(s.inFlight), count(s.rateLimited)));
        return;
    }
    if (!m_haveRun) {
        return;
    }
    const qint64 total = std::max({s.estimatedLines, s.linesRead, s.doneInAll() + s.notStarted});
    m_progress->setValue(total > 0 ? int(1000.0 * double(s.doneInAll()) / double(total)) : 0);
    const QString lines = tr("%1 of %2 lines").arg(count(s.doneInAll()), count(total));
    const QString outcomes =
        tr("%1 ok · %2 failed")
            .arg(count(s.resumedSucceeded + s.succeeded), count(s.resumedFailed + s.failed));
    if (m_ending == Ending::Stopped) {
        m_progressLabel->setText(tr("Stopped: %1 have records · %2 · %3 not sent (Run offers to resume them)")
                                     .arg(lines, outcomes, count(s.notStarted)));
    } else if (m_ending == Ending::Finished) {
        m_progressLabel->setText(
            tr("Finished: %1 · %2 · %3 req/s on average · took %4")
                .arg(lines, outcomes, QString::number(s.averageRps, 'f', 0), duration(s.elapsedMs / 1000.0)));
    } else if (m_stopRequested || s.state == RunState::Stopping) {
        m_progressLabel->setText(
            tr("Stopping: waiting for %1 in flight · %2 · %3").arg(count(s.inFlight), lines, outcomes));
    } else if (m_paused || s.state == RunState::Paused) {
        // Nothing new goes out: no rate, no ETA, only what is still coming back.
        m_progressLabel->setText(tr("Paused: %1 · %2 · %3 in flight finishing · Resume (F6) to go on")
                                     .arg(lines, outcomes, count(s.inFlight)));
    } else {
        const double rate = s.currentRps > 0 ? s.currentRps : s.averageRps;
        m_progressLabel->setText(
            tr("%1 · %2 · %3 req/s · %4 in flight · %5 waiting · 429s %6 · ETA %7")
                .arg(lines, outcomes, QString::number(rate, 'f', 0), count(s.inFlight),
                     count(s.queued + s.waitingRetry), count(s.rateLimited),
                     rate > 0 ? duration(double(total - s.doneInAll()) / rate) : QStringLiteral("?")));
    }
}

void MainWindow::handleFinished(const Sluice::MetricsSnapshot &summary)
{
    const bool stopped = m_stopRequested || summary.notStarted > 0;
    m_ending = stopped ? Ending::Stopped : Ending::Finished;
    m_paused = false;
    m_stopRequested = false;
    handleSnapshot(summary); // the charts already hold every second (each snapshot carries the last 60)
    QString error;
    m_errorGroups->loadFile(m_controller->errorsPath(), &error);
    if (stopped) {
        appendLog(tr("Run stopped after %1: %2 succeeded, %3 failed, %4 lines not sent (Run offers to resume "
                     "them), %5 retries, %6 answered 429.")
                      .arg(duration(summary.elapsedMs / 1000.0), count(summary.succeeded),
                           count(summary.failed), count(summary.notStarted), count(summary.retries),
                           count(summary.rateLimited)));
        statusBar()->showMessage(tr("Stopped: %1 lines not sent; results so far in %2")
                                     .arg(count(summary.notStarted), m_resultsPath),
                                 10000);
    } else {
        appendLog(tr("Run finished in %1: %2 succeeded, %3 failed, %4 retries, %5 answered 429.")
                      .arg(duration(summary.elapsedMs / 1000.0), count(summary.succeeded),
                           count(summary.failed), count(summary.retries), count(summary.rateLimited)));
        statusBar()->showMessage(tr("Finished: results in %1").arg(m_resultsPath), 10000);
    }
    if (summary.cost.limited || summary.cost.pricedReplies + summary.cost.unpricedReplies > 0) {
        appendLog(tr("Cost: %1").arg(m_costGauge->text()));
    }
    m_summary->setSummary(summary, stopped, m_resultsPath, m_controller->errorsPath(), m_unpriced);
    m_endpointView->resizeColumnsToContents(); // columns widened during the run fit what stays
    // The records are indexed when the Records tab is first opened (a big run's index takes memory and
    // seconds that an operator who never looks should not pay).
    m_recordsPending = true;
    m_recordsErrorsPath = m_controller->errorsPath();
    showTab(Tab::Summary);
    updateActions();
    Q_EMIT runFinished();
}

QString MainWindow::exportProblem(Export kind) const
{
    if (m_controller->isActive() && (kind == Export::ResultsJsonl || kind == Export::ResultsCsv ||
                                     kind == Export::ErrorsJsonl || kind == Export::ErrorsCsv)) {
        return tr("The run is still writing its outputs: export them when it ends.");
    }
    switch (kind) {
    case Export::ResultsJsonl:
    case Export::ResultsCsv:
        if (m_resultsPath.isEmpty() || !QFileInfo::exists(m_resultsPath)) {
            return m_requestsPath.isEmpty() ? tr("No results yet: open a request file and run it first.")
                                            : tr("No results yet: run the batch first (they go to %1).")
                                                  .arg(QFileInfo(m_resultsPath).fileName());
        }
        return QString();
    case Export::ErrorsJsonl:
    case Export::ErrorsCsv:
        if (m_errorsPath.isEmpty() || !QFileInfo::exists(m_errorsPath)) {
            return m_requestsPath.isEmpty() ? tr("No errors file yet: open a request file and run it first.")
                                            : tr("No errors file yet: run the batch first (it goes to %1).")
                                                  .arg(QFileInfo(m_errorsPath).fileName());
        }
        return QString();
    case Export::HistoryCsv:
        return m_lastWasRun ? QString()
                            : tr("No run to export yet: the history is that of a run in this window.");
    case Export::ChartsPng:
    case Export::ReportHtml:
        return m_haveRun ? QString() : tr("No run to export yet: run the batch (or Try it) first.");
    }
    return QString();
}

bool MainWindow::canExport(Export kind) const
{
    return exportProblem(kind).isEmpty();
}

bool MainWindow::exportTo(Export kind, const QString &path)
{
    if (const QString problem = exportProblem(kind); !problem.isEmpty()) {
        appendLog(tr("Nothing exported: %1").arg(problem));
        return false;
    }
    if (path.isEmpty()) {
        appendLog(tr("Nothing exported: no file name given."));
        return false;
    }
    // Exports hold the whole run, whatever window the charts show on screen.
    const auto chartsImage = [this] {
        QList<LiveCharts::View> views{LiveCharts::View::Overview};
        if (m_last.endpoints.size() > 1) {
            views.append(LiveCharts::View::PerEndpoint);
        }
        return m_charts->render(QSize(1400, 900 * int(views.size())), LiveCharts::Window::WholeRun, views);
    };
    Result<void> result;
    switch (kind) {
    case Export::ResultsJsonl:
        result = Exporter::copyFile(m_resultsPath, path);
        break;
    case Export::ResultsCsv:
        result = Exporter::resultsToCsv(m_resultsPath, path);
        break;
    case Export::ErrorsJsonl:
        result = Exporter::copyFile(m_errorsPath, path);
        break;
    case Export::ErrorsCsv:
        result = Exporter::errorsToCsv(m_errorsPath, path);
        break;
    case Export::HistoryCsv:
        result = Metrics::writeHistoryCsv(path, m_controller->history());
        break;
    case Export::ChartsPng:
        result = Exporter::savePng(chartsImage(), path);
        break;
    case Export::ReportHtml:
        result = Exporter::htmlReport(path, m_last, currentProject(), chartsImage(), m_requestsPath);
        break;
    }
    if (!result) {
        appendLog(tr("Export failed: %1").arg(result.error().message));
        return false;
    }
    appendLog(tr("Exported %1").arg(path));
    return true;
}

void MainWindow::exportWithDialog(Export kind)
{
    if (const QString problem = exportProblem(kind); !problem.isEmpty()) {
        QMessageBox::information(this, tr("Export"), problem);
        return;
    }
    static const QHash<int, QPair<QString, QString>> names = {
        {int(Export::ResultsJsonl),
         {QStringLiteral("results.jsonl"), QStringLiteral("JSON Lines (*.jsonl)")}},
        {int(Export::ResultsCsv), {QStringLiteral("results.csv"), QStringLiteral("CSV (*.csv)")}},
        {int(Export::ErrorsJsonl), {QStringLiteral("errors.jsonl"), QStringLiteral("JSON Lines (*.jsonl)")}},
        {int(Export::ErrorsCsv), {QStringLiteral("errors.csv"), QStringLiteral("CSV (*.csv)")}},
        {int(Export::HistoryCsv), {QStringLiteral("history.csv"), QStringLiteral("CSV (*.csv)")}},
        {int(Export::ChartsPng), {QStringLiteral("charts.png"), QStringLiteral("PNG (*.png)")}},
        {int(Export::ReportHtml), {QStringLiteral("report.html"), QStringLiteral("HTML (*.html)")}},
    };
    const auto &[name, filter] = names.value(int(kind));
    const QString path = QFileDialog::getSaveFileName(this, tr("Export"), name, filter);
    if (!path.isEmpty() && !exportTo(kind, path)) {
        QMessageBox::warning(this, tr("Export"), tr("Could not export; see the Log tab."));
    }
}

void MainWindow::appendLog(const QString &text)
{
    m_log->appendPlainText(QTime::currentTime().toString(QStringLiteral("HH:mm:ss  ")) + text);
}

void MainWindow::addRecent(const QString &path)
{
    QSettings settings;
    QStringList recent = settings.value(QStringLiteral("recent/files")).toStringList();
    recent.removeAll(path);
    recent.prepend(path);
    while (recent.size() > MaxRecent) {
        recent.removeLast();
    }
    settings.setValue(QStringLiteral("recent/files"), recent);
    rebuildRecentMenu();
}

void MainWindow::rebuildRecentMenu()
{
    m_recentMenu->clear();
    const QStringList recent = QSettings().value(QStringLiteral("recent/files")).toStringList();
    for (const QString &path : recent) {
        m_recentMenu->addAction(QFileInfo(path).fileName(), this, [this, path] { openRequests(path); })
            ->setToolTip(path);
    }
    m_recentMenu->setEnabled(!recent.isEmpty());
}

void MainWindow::closeEvent(QCloseEvent *event)
{
    if (m_gateway->isActive()) {
        const auto answer = QMessageBox::question(
            this, tr("Quit"), tr("The gateway is serving. Stop it (waiting callers get 503) and quit?"));
        if (answer != QMessageBox::Yes) {
            event->ignore();
            return;
        }
    }
    if (m_controller->isActive()) {
        const auto answer = QMessageBox::question(
            this, tr("Quit"), tr("A run is going. Stop it (requests in flight are cancelled) and quit?"));
        if (answer != QMessageBox::Yes) {
            event->ignore();
            return;
        }
    }
    if (!settleUnsavedChanges(tr("Quitting now loses them."))) {
        event->ignore();
        return;
    }
    QSettings().setValue(QStringLiteral("window/geometry"), saveGeometry());
    event->accept();
}

void MainWindow::dragEnterEvent(QDragEnterEvent *event)
{
    if (event->mimeData()->hasUrls() && !m_controller->isActive()) {
        event->acceptProposedAction();
    }
}

void MainWindow::dropEvent(QDropEvent *event)
{
    const QList<QUrl> urls = event->mimeData()->urls();
    if (!urls.isEmpty() && urls.first().isLocalFile()) {
        const QString path = urls.first().toLocalFile();
        if (path.endsWith(QLatin1String(".json")) && ProjectConfig::load(path)) {
            openProject(path);
        } else {
            openRequests(path);
        }
    }
}

QString MainWindow::selectedEndpointName() const
{
    const int row = m_endpointView->currentIndex().row();
    const QList<EndpointConfig> all = m_endpoints->endpoints();
    return row >= 0 && row < all.size() ? all.at(row).name : QString();
}

bool MainWindow::storeApiKey(const QString &endpoint, const QByteArray &key, QString *error)
{
    if (!KeyStore().store(endpoint, key, error)) {
        return false;
    }
    appendLog(tr("API key for endpoint \"%1\" stored in the keychain.").arg(endpoint));
    return true;
}

bool MainWindow::forgetApiKey(const QString &endpoint, QString *error)
{
    if (!KeyStore().remove(endpoint, error)) {
        return false;
    }
    appendLog(tr("Stored API key for endpoint \"%1\" removed from the keychain.").arg(endpoint));
    return true;
}

} // namespace Sluice::Gui
