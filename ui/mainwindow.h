#pragma once

#include "config/projectconfig.h"
#include "dialogs/runsettingsdialog.h"
#include "endpointevents.h"
#include "engine/engine.h"
#include "io/preflight.h"
#include "metrics/metrics.h"

#include <QHash>
#include <QMainWindow>

#include <memory>
#include <vector>

class QAction;
class QLabel;
class QListWidget;
class QMenu;
class QPlainTextEdit;
class QProgressBar;
class QSplitter;
class QTableView;
class QTabWidget;
class QToolButton;
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
class CostGauge;
class ResultsBrowser;
class SummaryPanel;

/// Sluice's main window: load a batch (preflight summary and invalid lines), tune endpoints and run
/// settings, run, watch live charts and per-endpoint statistics, re-weight while running, read the
/// end-of-run summary, look up what happened to any line, and export.
/// The public slots are what the menus and toolbar call; tests drive the same entry points.
class MainWindow : public QMainWindow
{
    Q_OBJECT

public:
    enum class Export { ResultsJsonl, ResultsCsv, ErrorsJsonl, ErrorsCsv, HistoryCsv, ChartsPng, ReportHtml };
    /// The tabs under the endpoints table.
    enum class Tab { Charts, Summary, Records, Errors, InvalidLines, Log };

    /// How Run behaves with nobody at the window (`sluice --run`): never a dialog; problems go to the
    /// log and runRefused(). The value also answers the interrupted-run question: Refuse leaves the run
    /// alone (and says which option to pass), the others resume it, resume it and retry its failures,
    /// or start over. Attended (the default) asks in dialogs.
    enum class Unattended { Attended, Refuse, Resume, RetryErrors, StartOver };

    explicit MainWindow(QWidget *parent = nullptr);
    ~MainWindow() override;

    void setUnattended(Unattended mode) { m_unattended = mode; }

    /// Loads a request file and starts its preflight scan (preflightFinished() when done). What the
    /// window showed of an earlier run (progress, charts, summary, records) is cleared.
    bool openRequests(const QString &path);
    bool openProject(const QString &path);
    bool saveProject(const QString &path);
    /// Where the results and errors go (default: beside the input, "<name>-results.jsonl" and
    /// "-errors.jsonl"); empty paths go back to the default.
    void setOutputPaths(const QString &results, const QString &errors);
    /// Export; false with the reason in the log (and no file written) when there is nothing to export.
    bool exportTo(Export kind, const QString &path);
    /// Whether File ▸ Export offers `kind` now (a run produced it).
    bool canExport(Export kind) const;
    /// Stores `key` in the OS keychain for the endpoint named `endpoint`; used by the next runs
    /// instead of its api_key_env variable. False with `error` set when the keychain refuses.
    bool storeApiKey(const QString &endpoint, const QByteArray &key, QString *error = nullptr);
    bool forgetApiKey(const QString &endpoint, QString *error = nullptr);

    /// The run settings (Run ▸ Settings): global limits, retries, timeout, outputs.
    RunSettingsDialog::Settings runSettings() const;
    void setRunSettings(const RunSettingsDialog::Settings &settings);
    /// Endpoints or run settings changed since the project was opened or saved.
    bool hasUnsavedChanges() const { return m_dirty; }

    EndpointTableModel *endpointModel() const { return m_endpoints; }
    ErrorGroupsModel *errorModel() const { return m_errorGroups; }
    LiveCharts *charts() const { return m_charts; }
    SummaryPanel *summaryPanel() const { return m_summary; }
    ResultsBrowser *resultsBrowser() const { return m_resultsBrowser; }
    CostGauge *costGauge() const { return m_costGauge; }
    const PreflightReport &preflight() const { return m_preflight; }
    Sluice::RunState runState() const;
    const Sluice::MetricsSnapshot &lastSnapshot() const { return m_last; }
    QString resultsPath() const { return m_resultsPath; }
    QString errorsPath() const { return m_errorsPath; }
    /// The port the gateway listens on, 0 when it is not running.
    quint16 gatewayPort() const;
    void showTab(Tab tab);
    /// The log as text (the Log tab).
    QString logText() const;

public Q_SLOTS:
    /// Runs the loaded file. When the results file holds an interrupted run, asks whether to resume
    /// it, resume it and retry its failures, or start over; when it holds a finished run, whether to
    /// replace it or write new files (Run settings decide; nothing is replaced silently).
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
    /// Run ▸ Settings: the run settings dialog.
    void openRunSettings();

Q_SIGNALS:
    void preflightFinished();
    void runFinished();
    /// Run did not start; `reason` says why (also in the log, and in a dialog when attended).
    void runRefused(const QString &reason);
    void gatewayStopped();

protected:
    void startRun(Sluice::RunOptions::Mode mode);
    /// Run did not start: says why in the log, in a dialog when attended, and in runRefused().
    /// What the window shows of the last run stays as it was.
    void refuseRun(const QString &reason);
    void handleStarted(const Sluice::MetricsSnapshot &snapshot);
    /// The interrupted-run dialog: Resume, RetryErrors or StartOver, or Attended when cancelled.
    Unattended askAboutInterruptedRun(qint64 done);
    void closeEvent(QCloseEvent *event) override;
    void showEvent(QShowEvent *event) override;
    void dragEnterEvent(QDragEnterEvent *event) override;
    void dropEvent(QDropEvent *event) override;

private:
    enum class Ending { None, Finished, Stopped };

    void buildActions();
    void buildLayout();
    void buildStatusBar();
    /// Charts, summary, records, errors, invalid lines and log, under the endpoints table.
    void buildTabs();
    void updateActions();
    void handleSnapshot(const Sluice::MetricsSnapshot &snapshot);
    void handleFinished(const Sluice::MetricsSnapshot &summary);
    void showProgress(const Sluice::MetricsSnapshot &snapshot);
    void showPreflight();
    void showPrediction();
    /// The preflight's cost estimate (range, per endpoint share, unpriced models) for the label, as HTML.
    QString costPrediction();
    void addRecent(const QString &path);
    void rebuildRecentMenu();
    void appendLog(const QString &text);
    void exportWithDialog(Export kind);
    /// Why `kind` cannot be exported now, empty when it can.
    QString exportProblem(Export kind) const;
    QString defaultOutput(const QString &suffix) const;
    /// The endpoint selected in the table, or empty.
    QString selectedEndpointName() const;
    Sluice::ProjectConfig currentProject() const;
    /// Forgets what the window shows of a run: progress, charts, table statistics, summary, records.
    void clearRunView();
    /// Sizes and places the window inside the available area of its screen.
    void fitToScreen();
    /// Gives the endpoints table room for its rows (up to 8) within the splitter.
    void fitTableToRows();
    /// Widens columns whose content grew (numbers as a run goes); never narrows them.
    void fitColumns(int first, int last);
    void showEditError(const QModelIndex &index, const QString &reason);
    void setDirty(bool dirty);
    /// Asks what to do with unsaved endpoint changes before `what` replaces or drops them: true to
    /// go on (saved or discarded), false to cancel. Never asks when unattended.
    bool settleUnsavedChanges(const QString &what);
    /// A fresh run's outputs hold an earlier run's records: replace, write new files, or cancel.
    bool settleExistingOutputs();
    void addMarker(ChartMarker::Kind kind, const QString &text);
    void updateSettingsButton();

    EngineController *m_controller = nullptr;
    GatewayController *m_gateway = nullptr;
    EndpointTableModel *m_endpoints = nullptr;
    ErrorGroupsModel *m_errorGroups = nullptr;
    LiveCharts *m_charts = nullptr;
    SummaryPanel *m_summary = nullptr;
    ResultsBrowser *m_resultsBrowser = nullptr;

    QLabel *m_fileLabel = nullptr;
    QLabel *m_preflightLabel = nullptr;
    QListWidget *m_invalidList = nullptr;
    QTableView *m_endpointView = nullptr;
    QSplitter *m_splitter = nullptr;
    QProgressBar *m_progress = nullptr;
    QLabel *m_progressLabel = nullptr;
    QTabWidget *m_tabs = nullptr;
    QTreeView *m_errorView = nullptr;
    QPlainTextEdit *m_log = nullptr;
    QLabel *m_stateLabel = nullptr;
    QLabel *m_sharedLabel = nullptr;  ///< Redis shared limits: state and process count (hidden when unused)
    CostGauge *m_costGauge = nullptr; ///< spent and committed against the budget (status bar)
    QToolButton *m_settingsButton = nullptr;
    QLabel *m_editError = nullptr; ///< why an edit of the endpoints table was refused, next to the cell

    QAction *m_openAction = nullptr;
    QAction *m_openProjectAction = nullptr;
    QAction *m_saveProjectAction = nullptr;
    QAction *m_runAction = nullptr;
    QAction *m_pauseAction = nullptr;
    QAction *m_stopAction = nullptr;
    QAction *m_retryAction = nullptr;
    QAction *m_tryAction = nullptr;
    QAction *m_settingsAction = nullptr;
    QAction *m_gatewayAction = nullptr;
    QAction *m_addEndpointAction = nullptr;
    QAction *m_duplicateEndpointAction = nullptr;
    QAction *m_removeEndpointAction = nullptr;
    QAction *m_storeKeyAction = nullptr;
    QAction *m_forgetKeyAction = nullptr;
    QMenu *m_recentMenu = nullptr;
    QMenu *m_exportMenu = nullptr;
    QHash<int, QAction *> m_exportActions;

    Sluice::LimitsConfig m_limits;
    Sluice::SharedConfig m_shared; ///< the opened project's "shared" block, kept as it was
    RunSettingsDialog::ExistingOutputs m_existingOutputs = RunSettingsDialog::ExistingOutputs::Ask;
    bool m_customOutputs = false; ///< the outputs were chosen, not the defaults beside the input
    QString m_requestsPath;
    QString m_resultsPath;
    QString m_errorsPath;
    QString m_projectPath;
    PreflightReport m_preflight;
    QStringList m_unpriced; ///< "model at endpoint" pairs of the loaded file without a price
    bool m_preflightRunning = false;
    Sluice::MetricsSnapshot m_last;
    bool m_paused = false;
    bool m_stopRequested = false;
    bool m_awaitingStart = false; ///< a run was asked for; the view changes only once it has started
    bool m_haveRun = false;       ///< the view shows a run (or gateway traffic) of this file
    bool m_lastWasRun = false;    ///< the controller's history belongs to what the view shows
    bool m_dirty = false;
    bool m_recordsPending = false; ///< a run ended: its records are indexed when the Records tab opens
    QString m_recordsErrorsPath;
    bool m_fittedOnShow = false;
    Ending m_ending = Ending::None;
    EndpointEvents m_events;
    QList<Sluice::EndpointConfig> m_runEndpoints; ///< as the running engine has them (edit markers)
    Unattended m_unattended = Unattended::Attended;
    Sluice::RunOptions::Mode m_startMode = Sluice::RunOptions::Mode::Fresh; ///< of the run starting
    QStringList m_keysFromKeychain; ///< endpoints whose keys the run starting took from the keychain
    std::vector<std::unique_ptr<Sluice::SimulatorHost>> m_simulators;
};

} // namespace Sluice::Gui
