#pragma once

#include "config/projectconfig.h"
#include "engine/engine.h"
#include "io/preflight.h"
#include "metrics/metrics.h"

#include <QMainWindow>

#include <memory>
#include <vector>

class QAction;
class QLabel;
class QListWidget;
class QMenu;
class QPlainTextEdit;
class QProgressBar;
class QTableView;
class QTabWidget;
class QTreeView;

namespace Sluice {
class SimulatorHost;
}

namespace Sluice::Gui {

class EndpointTableModel;
class EngineController;
class GatewayController;
class ErrorGroupsModel;
class LiveCharts;

/// Sluice's main window: load a batch (preflight summary and invalid lines), tune endpoints, run,
/// watch live charts and per-endpoint statistics, re-weight while running, and export.
/// The public slots are what the menus and toolbar call; tests drive the same entry points.
class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    enum class Export { ResultsJsonl, ResultsCsv, ErrorsJsonl, ErrorsCsv, HistoryCsv, ChartsPng, ReportHtml };

    /// How Run behaves with nobody at the window (`sluice --run`): never a dialog; problems go to the
    /// log and runRefused(). The value also answers the interrupted-run question: Refuse leaves the run
    /// alone (and says which option to pass), the others resume it, resume it and retry its failures,
    /// or start over. Attended (the default) asks in dialogs.
    enum class Unattended { Attended, Refuse, Resume, RetryErrors, StartOver };

    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    void setUnattended(Unattended mode) { m_unattended = mode; }

    /// Loads a request file and starts its preflight scan (preflightFinished() when done).
    bool openRequests(const QString &path);
    bool openProject(const QString &path);
    bool saveProject(const QString &path);
    /// Where the results and errors go (default: beside the input, "<name>-results.jsonl" and
    /// "-errors.jsonl").
    void setOutputPaths(const QString &results, const QString &errors);
    bool exportTo(Export kind, const QString &path);
    /// Stores `key` in the OS keychain for the endpoint named `endpoint`; used by the next runs
    /// instead of its api_key_env variable. False with `error` set when the keychain refuses.
    bool storeApiKey(const QString &endpoint, const QByteArray &key, QString *error = nullptr);
    bool forgetApiKey(const QString &endpoint, QString *error = nullptr);

    EndpointTableModel *endpointModel() const { return m_endpoints; }
    ErrorGroupsModel *errorModel() const { return m_errorGroups; }
    LiveCharts *charts() const { return m_charts; }
    const PreflightReport &preflight() const { return m_preflight; }
    Sluice::RunState runState() const;
    const Sluice::MetricsSnapshot &lastSnapshot() const { return m_last; }
    QString resultsPath() const { return m_resultsPath; }
    QString errorsPath() const { return m_errorsPath; }
    /// The port the gateway listens on, 0 when it is not running.
    quint16 gatewayPort() const;

public Q_SLOTS:
    /// Runs the loaded file. When the results file holds an interrupted run, asks whether to resume
    /// it, resume it and retry its failures, or start over.
    void run();
    /// Continues the last run and sends again the lines that ended in its errors file.
    void retryFailures();
    void pause();
    void resume();
    void stop();
    /// Starts two built-in simulated endpoints and runs the bundled demo batch against them.
    void tryIt();
    /// Serves the current project as a gateway (`sluice-cli serve`) on 127.0.0.1:`port` (0: a free
    /// port); its traffic feeds the live charts and the endpoint table like a run. False (and a
    /// message box) when it cannot start.
    bool startGateway(quint16 port);
    /// Stops the gateway: waiting callers get 503, attempts in flight finish; gatewayStopped() follows.
    void stopGateway();

Q_SIGNALS:
    void preflightFinished();
    void runFinished();
    /// Run did not start; `reason` says why (also in the log, and in a dialog when attended).
    void runRefused(const QString &reason);
    void gatewayStopped();

protected:
    void startRun(Sluice::RunOptions::Mode mode);
    /// Run did not start: says why in the log, in a dialog when attended, and in runRefused().
    void refuseRun(const QString &reason);
    void handleStarted(const Sluice::MetricsSnapshot &snapshot);
    /// The interrupted-run dialog: Resume, RetryErrors or StartOver, or Attended when cancelled.
    Unattended askAboutInterruptedRun(qint64 done);
    void closeEvent(QCloseEvent *event) override;
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;

private:
    void buildActions();
    void buildLayout();
    void updateActions();
    void handleSnapshot(const Sluice::MetricsSnapshot &snapshot);
    void handleFinished(const Sluice::MetricsSnapshot &summary);
    void showPreflight();
    void addRecent(const QString &path);
    void rebuildRecentMenu();
    void appendLog(const QString &text);
    void exportWithDialog(Export kind);
    QString defaultOutput(const QString &suffix) const;
    /// The endpoint selected in the table, or empty.
    QString selectedEndpointName() const;
    Sluice::ProjectConfig currentProject() const;

    EngineController *m_controller = nullptr;
    GatewayController *m_gateway = nullptr;
    EndpointTableModel *m_endpoints = nullptr;
    ErrorGroupsModel *m_errorGroups = nullptr;
    LiveCharts *m_charts = nullptr;

    QLabel *m_fileLabel = nullptr;
    QLabel *m_preflightLabel = nullptr;
    QListWidget *m_invalidList = nullptr;
    QTableView *m_endpointView = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_progressLabel = nullptr;
    QTabWidget *m_tabs = nullptr;
    QTreeView *m_errorView = nullptr;
    QPlainTextEdit *m_log = nullptr;
    QLabel *m_stateLabel = nullptr;
    QLabel *m_sharedLabel = nullptr; ///< Redis shared limits: state and process count (hidden when unused)

    QAction *m_openAction = nullptr;
    QAction *m_openProjectAction = nullptr;
    QAction *m_saveProjectAction = nullptr;
    QAction *m_runAction = nullptr;
    QAction *m_pauseAction = nullptr;
    QAction *m_stopAction = nullptr;
    QAction *m_retryAction = nullptr;
    QAction *m_tryAction = nullptr;
    QAction *m_gatewayAction = nullptr;
    QAction *m_addEndpointAction = nullptr;
    QAction *m_duplicateEndpointAction = nullptr;
    QAction *m_removeEndpointAction = nullptr;
    QAction *m_storeKeyAction = nullptr;
    QAction *m_forgetKeyAction = nullptr;
    QMenu *m_recentMenu = nullptr;
    QMenu *m_exportMenu = nullptr;

    Sluice::LimitsConfig m_limits;
    QString m_requestsPath;
    QString m_resultsPath;
    QString m_errorsPath;
    QString m_projectPath;
    PreflightReport m_preflight;
    bool m_preflightRunning = false;
    Sluice::MetricsSnapshot m_last;
    bool m_paused = false;
    Unattended m_unattended = Unattended::Attended;
    Sluice::RunOptions::Mode m_startMode = Sluice::RunOptions::Mode::Fresh; ///< of the run starting
    QStringList m_keysFromKeychain; ///< endpoints whose keys the run starting took from the keychain
    std::vector<std::unique_ptr<Sluice::SimulatorHost>> m_simulators;
};

} // namespace Sluice::Gui
