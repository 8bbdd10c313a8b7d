#include "mainwindow.h"

#include "charts/livecharts.h"
#include "enginecontroller.h"
#include "exporter.h"
#include "gatewaycontroller.h"
#include "io/runfiles.h"
#include "keystore.h"
#include "models/endpointtablemodel.h"
#include "models/errorgroupsmodel.h"
#include "sim/simulatorhost.h"

#include <QAction>
#include <QApplication>
#include <QCloseEvent>
#include <QDir>
#include <QDragEnterEvent>
#include <QFile>
#include <QFileDialog>
#include <QFileInfo>
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
#include <QSettings>
#include <QSplitter>
#include <QStandardPaths>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QThread>
#include <QTime>
#include <QToolBar>
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

} // namespace

MainWindow::MainWindow(QWidget *parent)
    : QMainWindow(parent)
    , m_controller(new EngineController(this))
    , m_gateway(new GatewayController(this))
    , m_endpoints(new EndpointTableModel(this))
    , m_errorGroups(new ErrorGroupsModel(this))
{
    initSluiceResources();
    setWindowTitle(QStringLiteral("Sluice"));
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
                appendLog(QStringLiteral("%1: weight %2, rpm %3, tpm %4, max in flight %5 (live)")
                              .arg(e.name)
                              .arg(e.weight)
                              .arg(e.rpm)
                              .arg(e.tpm)
                              .arg(e.maxInFlight));
            });

    QSettings settings;
    restoreGeometry(settings.value(QStringLiteral("window/geometry")).toByteArray());
    rebuildRecentMenu();
    const QString lastProject = settings.value(QStringLiteral("project/last")).toString();
    if (!lastProject.isEmpty() && QFileInfo::exists(lastProject)) {
        openProject(lastProject);
    }
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
    bar->addAction(m_tryAction);
}

void MainWindow::buildLayout()
{
    auto *central = new QWidget(this);
    auto *layout = new QVBoxLayout(central);

    // Batch: file, preflight summary, invalid lines.
    m_fileLabel = new QLabel(
        tr("No request file. Open one (Ctrl+O), drop one here, or press Try it (Ctrl+T)."), central);
    m_fileLabel->setTextInteractionFlags(Qt::TextSelectableByMouse);
    m_preflightLabel = new QLabel(central);
    m_preflightLabel->setWordWrap(true);
    m_invalidList = new QListWidget(central);
    m_invalidList->setObjectName(QStringLiteral("invalidLines"));
    m_invalidList->setToolTip(tr("Lines that will go straight to the errors file, with the reason"));
    m_invalidList->setMaximumHeight(90);
    m_invalidList->hide();
    layout->addWidget(m_fileLabel);
    layout->addWidget(m_preflightLabel);
    layout->addWidget(m_invalidList);

    auto *splitter = new QSplitter(Qt::Vertical, central);
    m_endpointView = new QTableView(splitter);
    m_endpointView->setObjectName(QStringLiteral("endpointTable"));
    m_endpointView->setModel(m_endpoints);
    m_endpointView->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_endpointView->horizontalHeader()->setStretchLastSection(true);
    m_endpointView->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_endpointView->setEditTriggers(QAbstractItemView::DoubleClicked | QAbstractItemView::EditKeyPressed |
                                    QAbstractItemView::AnyKeyPressed);
    m_endpointView->setContextMenuPolicy(Qt::ActionsContextMenu);
    m_endpointView->addActions({m_addEndpointAction, m_duplicateEndpointAction, m_removeEndpointAction});

    m_tabs = new QTabWidget(splitter);
    m_charts = new LiveCharts(m_tabs);
    m_tabs->addTab(m_charts, tr("&Charts"));
    m_errorView = new QTreeView(m_tabs);
    m_errorView->setObjectName(QStringLiteral("errorTree"));
    m_errorView->setModel(m_errorGroups);
    m_errorView->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
    m_tabs->addTab(m_errorView, tr("E&rrors"));
    m_log = new QPlainTextEdit(m_tabs);
    m_log->setReadOnly(true);
    m_tabs->addTab(m_log, tr("&Log"));
    m_charts->setMinimumHeight(620); // three charts with readable axes
    splitter->setStretchFactor(0, 1);
    splitter->setStretchFactor(1, 4);
    splitter->setSizes({150, 700});
    layout->addWidget(splitter, 1);

    m_progress = new QProgressBar(central);
    m_progress->setRange(0, 1000);
    m_progress->setValue(0);
    m_progressLabel = new QLabel(central);
    layout->addWidget(m_progress);
    layout->addWidget(m_progressLabel);
    setCentralWidget(central);

    m_stateLabel = new QLabel(tr("Idle"), this);
    m_sharedLabel = new QLabel(this);
    m_sharedLabel->setObjectName(QStringLiteral("sharedLimitsLabel"));
    m_sharedLabel->hide();
    statusBar()->addPermanentWidget(m_sharedLabel);
    statusBar()->addPermanentWidget(m_stateLabel);
    resize(1360, 1080);
}

Sluice::RunState MainWindow::runState() const
{
    return m_controller->state();
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
    m_openAction->setEnabled(!active);
    m_openProjectAction->setEnabled(!active);
    m_addEndpointAction->setEnabled(!active);
    m_duplicateEndpointAction->setEnabled(!active);
    m_removeEndpointAction->setEnabled(!active);
    m_storeKeyAction->setEnabled(!active);
    m_forgetKeyAction->setEnabled(!active);
    m_endpoints->setRunning(active);
    const Sluice::RunState state = m_controller->state();
    m_stateLabel->setText(serving   ? tr("Gateway on port %1").arg(m_gateway->port())
                          : running ? (m_paused ? tr("Paused") : Sluice::toString(state))
                                    : (state == Sluice::RunState::Finished ? tr("Finished") : tr("Idle")));
}

bool MainWindow::openRequests(const QString &path)
{
    if (m_controller->isActive()) {
        return false;
    }
    if (!QFileInfo(path).isFile()) {
        QMessageBox::warning(this, tr("Open requests"), tr("%1 is not a readable file.").arg(path));
        return false;
    }
    m_requestsPath = QFileInfo(path).absoluteFilePath();
    m_resultsPath = defaultOutput(QStringLiteral("results"));
    m_errorsPath = defaultOutput(QStringLiteral("errors"));
    m_fileLabel->setText(tr("<b>%1</b> → %2, %3")
                             .arg(m_requestsPath.toHtmlEscaped(),
                                  QFileInfo(m_resultsPath).fileName().toHtmlEscaped(),
                                  QFileInfo(m_errorsPath).fileName().toHtmlEscaped()));
    m_preflightLabel->setText(tr("Reading the file…"));
    m_invalidList->clear();
    m_invalidList->hide();
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

void MainWindow::showPreflight()
{
    const PreflightReport &r = m_preflight;
    if (!r.error.isEmpty()) {
        m_preflightLabel->setText(tr("Cannot read the file: %1").arg(r.error.toHtmlEscaped()));
        return;
    }
    QStringList formats;
    for (auto it = r.formats.cbegin(); it != r.formats.cend(); ++it) {
        formats.append(QStringLiteral("%1 %2").arg(count(it.value()), it.key()));
    }
    const double seconds = Preflight::predictSeconds(r, currentProject());
    m_preflightLabel->setText(
        tr("%1 requests (%2), %3 invalid lines, about %4 prompt tokens and up to %5 output "
           "tokens. Predicted duration with these limits: %6.")
            .arg(count(r.requests), formats.join(QStringLiteral(", ")), count(r.invalid),
                 count(qint64(r.promptTokens)), count(qint64(r.maxOutputTokens)),
                 seconds < 0 ? tr("unbounded by limits") : duration(seconds)));
    for (const InputError &e : r.invalidLines) {
        auto *item = new QListWidgetItem(e.message, m_invalidList);
        item->setData(Qt::UserRole, e.line);
    }
    m_invalidList->setVisible(!r.invalidLines.isEmpty());
}

bool MainWindow::openProject(const QString &path)
{
    auto loaded = ProjectConfig::load(path);
    if (!loaded) {
        QMessageBox::warning(this, tr("Open project"), loaded.error().message);
        return false;
    }
    m_endpoints->setEndpoints(loaded->endpoints);
    m_limits = loaded->limits;
    m_projectPath = QFileInfo(path).absoluteFilePath();
    QSettings().setValue(QStringLiteral("project/last"), m_projectPath);
    appendLog(tr("Project %1: %n endpoint(s)", nullptr, int(loaded->endpoints.size())).arg(m_projectPath));
    updateActions();
    return true;
}

Sluice::ProjectConfig MainWindow::currentProject() const
{
    ProjectConfig project;
    project.endpoints = m_endpoints->endpoints();
    project.limits = m_limits;
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
    QSettings().setValue(QStringLiteral("project/last"), m_projectPath);
    statusBar()->showMessage(tr("Saved %1").arg(m_projectPath), 5000);
    return true;
}

void MainWindow::setOutputPaths(const QString &results, const QString &errors)
{
    m_resultsPath = results;
    m_errorsPath = errors;
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

void MainWindow::startRun(RunOptions::Mode mode)
{
    if (m_controller->isActive() || m_requestsPath.isEmpty()) {
        return;
    }
    const auto refuse = [this](const QString &reason) {
        refuseRun(reason);
    };
    ProjectConfig project = currentProject();
    if (auto valid = project.validate(tr("project")); !valid) {
        refuse(valid.error().message);
        return;
    }
    RunOptions options;
    options.requestsPath = m_requestsPath;
    options.outPath = m_resultsPath;
    options.errorsPath = m_errorsPath;
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
            refuse(tr("%1 holds an unfinished run (%L2 lines done): pass --resume, --retry-errors or "
                      "--overwrite")
                       .arg(m_resultsPath)
                       .arg(done));
            return;
        case Unattended::Attended: // the operator cancelled
            return;
        }
    }
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
    m_charts->clear();
    m_errorGroups->clear();
    m_endpoints->clearStats();
    m_paused = false;
    m_last = MetricsSnapshot();
    if (auto started = m_controller->start(project, options); !started) {
        refuse(started.error().message);
        return;
    }
    m_startMode = options.mode;
    m_keysFromKeychain = fromKeychain;
    appendLog(tr("Starting: %1 → %2").arg(m_requestsPath, m_resultsPath));
    updateActions();
}

void MainWindow::refuseRun(const QString &reason)
{
    appendLog(tr("Run refused: %1").arg(reason));
    updateActions();
    if (m_unattended == Unattended::Attended) {
        QMessageBox::warning(this, tr("Run"), reason);
    }
    Q_EMIT runRefused(reason);
}

void MainWindow::handleStarted(const MetricsSnapshot &s)
{
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

void MainWindow::pause()
{
    if (m_controller->isActive() && !m_paused) {
        m_paused = true;
        m_controller->pause();
        appendLog(tr("Paused: no new requests; those in flight finish."));
        updateActions();
    }
}

void MainWindow::resume()
{
    if (m_controller->isActive() && m_paused) {
        m_paused = false;
        m_controller->resume();
        appendLog(tr("Resumed."));
        updateActions();
    }
}

void MainWindow::stop()
{
    if (m_controller->isActive()) {
        m_paused = false;
        m_controller->stop();
        appendLog(tr("Stopping: waiting for the requests in flight, then writing everything."));
        updateActions();
    }
}

void MainWindow::tryIt()
{
    if (m_controller->isActive()) {
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
        EndpointConfig e = EndpointConfig::fromUrl(
            QUrl(QStringLiteral("http://127.0.0.1:%1/v1/chat/completions").arg(*port)), i);
        e.name = i == 0 ? QStringLiteral("sim-a") : QStringLiteral("sim-b");
        e.weight = i == 0 ? 3 : 1;
        e.model = QStringLiteral("sluice-sim-1");
        endpoints.append(e);
        m_simulators.push_back(std::move(host));
    }
    m_endpoints->setEndpoints(endpoints);
    m_limits = LimitsConfig();
    m_limits.rps = 200; // a global limit, so the run lasts long enough to watch and re-weight
    appendLog(
        tr("Try it: two simulated endpoints on 127.0.0.1 (sim-a weight 3, sim-b weight 1). Change a weight "
           "while it runs and watch the split in the table."));
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
    m_charts->clear();
    m_errorGroups->clear();
    m_endpoints->clearStats();
    m_last = MetricsSnapshot();
    const auto started = m_gateway->start(project, options);
    if (!started) {
        QMessageBox::warning(this, tr("Gateway"), started.error().message);
        return false;
    }
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
    m_last = s;
    m_endpoints->applySnapshot(s);
    m_charts->addSnapshot(s);
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
    const qint64 total = std::max(s.estimatedLines, s.linesRead);
    m_progress->setValue(total > 0 ? int(1000.0 * double(s.doneInAll()) / double(total)) : 0);
    const double rate = s.currentRps > 0 ? s.currentRps : s.averageRps;
    m_progressLabel->setText(
        tr("%1 of %2 lines · %3 ok · %4 failed · %5 req/s · %6 in flight · 429s %7 · ETA %8")
            .arg(count(s.doneInAll()), count(total), count(s.resumedSucceeded + s.succeeded),
                 count(s.resumedFailed + s.failed), QString::number(rate, 'f', 0), count(s.inFlight),
                 count(s.rateLimited),
                 rate > 0 ? duration(double(total - s.doneInAll()) / rate) : QStringLiteral("?")));
    m_sharedLabel->setVisible(s.shared.enabled);
    if (s.shared.enabled) {
        m_sharedLabel->setText(tr("Shared limits (%1): Redis %2, %3 processes")
                                   .arg(s.shared.nameSpace, s.shared.state)
                                   .arg(s.shared.processes));
    }
}

void MainWindow::handleFinished(const Sluice::MetricsSnapshot &summary)
{
    handleSnapshot(summary); // the charts already hold every second (each snapshot carries the last 60)
    QString error;
    m_errorGroups->loadFile(m_controller->errorsPath(), &error);
    m_paused = false;
    appendLog(tr("Run finished in %1: %2 succeeded, %3 failed, %4 retries, %5 answered 429.")
                  .arg(duration(summary.elapsedMs / 1000.0), count(summary.succeeded), count(summary.failed),
                       count(summary.retries), count(summary.rateLimited)));
    updateActions();
    statusBar()->showMessage(tr("Finished: results in %1").arg(m_resultsPath), 10000);
    Q_EMIT runFinished();
}

bool MainWindow::exportTo(Export kind, const QString &path)
{
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
        result = Exporter::savePng(m_charts->render(QSize(1400, 1000)), path);
        break;
    case Export::ReportHtml:
        result = Exporter::htmlReport(path, m_last, currentProject(), m_charts->render(QSize(1400, 1000)),
                                      m_requestsPath);
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
