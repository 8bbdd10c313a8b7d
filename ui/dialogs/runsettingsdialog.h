#pragma once

#include "config/projectconfig.h"

#include <QDialog>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QGroupBox;
class QLabel;
class QLineEdit;
class QSpinBox;

namespace Sluice::Gui {

/// Run ▸ Settings: the run-wide limits (requests/s, tokens/min), the cost budget (limits.max_cost_usd,
/// and whether models without a price may run uncounted), retries (attempts, backoff), the
/// attempt timeout of every endpoint, where the results and errors go, and what happens when those
/// files already hold an earlier run's records.
class RunSettingsDialog : public QDialog
{
    Q_OBJECT

public:
    /// What a fresh run does when its outputs already hold records of an earlier run.
    enum class ExistingOutputs {
        Ask,      ///< ask (replace, or write new numbered files); unattended runs replace and log it
        NewFiles, ///< write "<name>-results-2.jsonl" (the first free number), keep the old files
        Replace,  ///< replace them (logged)
    };

    struct Settings
    {
        Sluice::LimitsConfig limits;
        double timeoutS = 120;       ///< every endpoint's attempt timeout
        bool timeoutsDiffer = false; ///< the endpoints have different timeouts: leave them unless edited
        QString resultsPath;         ///< empty = beside the input ("<name>-results.jsonl")
        QString errorsPath;          ///< empty = beside the input ("<name>-errors.jsonl")
        ExistingOutputs existing = ExistingOutputs::Ask;
    };

    RunSettingsDialog(const Settings &settings, const QString &requestsPath, QWidget *parent = nullptr);

    /// The settings as edited (valid once the dialog was accepted).
    Settings settings() const;
    void accept() override;

    static QString toString(ExistingOutputs existing);

private:
    QString validate() const;
    QGroupBox *limitsGroup(const Settings &settings);
    QGroupBox *budgetGroup(const Settings &settings);
    QGroupBox *retriesGroup(const Settings &settings);
    QGroupBox *outputsGroup(const Settings &settings, const QString &requestsPath);

    Settings m_initial;
    QDoubleSpinBox *m_rps = nullptr;
    QDoubleSpinBox *m_tpm = nullptr;
    QDoubleSpinBox *m_budget = nullptr; ///< limits.max_cost_usd; 0 = none
    QCheckBox *m_allowUnpriced = nullptr;
    QSpinBox *m_attempts = nullptr;
    QDoubleSpinBox *m_backoffBase = nullptr;
    QDoubleSpinBox *m_backoffMax = nullptr;
    QDoubleSpinBox *m_timeout = nullptr;
    QCheckBox *m_setTimeouts = nullptr;
    QCheckBox *m_besideInput = nullptr;
    QLineEdit *m_results = nullptr;
    QLineEdit *m_errors = nullptr;
    QComboBox *m_existing = nullptr;
    QLabel *m_problem = nullptr;
};

} // namespace Sluice::Gui
