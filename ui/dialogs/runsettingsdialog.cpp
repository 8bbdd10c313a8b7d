#include "runsettingsdialog.h"

#include <QCheckBox>
#include <QComboBox>
#include <QDialogButtonBox>
#include <QDoubleSpinBox>
#include <QFileDialog>
#include <QFileInfo>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPushButton>
#include <QSpinBox>
#include <QVBoxLayout>

#include <functional>

namespace Sluice::Gui {

namespace {

QDoubleSpinBox *spin(QWidget *parent, const char *name, double max, int decimals, const QString &suffix,
                     const QString &zeroText)
{
    auto *box = new QDoubleSpinBox(parent);
    box->setObjectName(QString::fromLatin1(name));
    box->setRange(0, max);
    box->setDecimals(decimals);
    box->setSuffix(suffix);
    box->setGroupSeparatorShown(true);
    if (!zeroText.isEmpty()) {
        box->setSpecialValueText(zeroText);
    }
    box->setMinimumWidth(160);
    return box;
}

QWidget *pathRow(QWidget *parent, QLineEdit *edit, const std::function<void()> &browse)
{
    auto *row = new QWidget(parent);
    auto *layout = new QHBoxLayout(row);
    layout->setContentsMargins(0, 0, 0, 0);
    layout->addWidget(edit, 1);
    auto *button = new QPushButton(QObject::tr("Browse…"), row);
    QObject::connect(button, &QPushButton::clicked, row, browse);
    layout->addWidget(button);
    return row;
}

} // namespace

QString RunSettingsDialog::toString(ExistingOutputs existing)
{
    switch (existing) {
    case ExistingOutputs::Ask:
        return tr("ask before replacing them");
    case ExistingOutputs::NewFiles:
        return tr("write new numbered files");
    case ExistingOutputs::Replace:
        return tr("replace them");
    }
    return QString();
}

RunSettingsDialog::RunSettingsDialog(const Settings &settings, const QString &requestsPath, QWidget *parent)
    : QDialog(parent)
    , m_initial(settings)
{
    setWindowTitle(tr("Run settings"));
    setObjectName(QStringLiteral("runSettingsDialog"));
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(limitsGroup(settings));
    layout->addWidget(budgetGroup(settings));
    layout->addWidget(retriesGroup(settings));
    layout->addWidget(outputsGroup(settings, requestsPath));
    m_problem = new QLabel(this);
    m_problem->setObjectName(QStringLiteral("settingsProblem"));
    m_problem->setStyleSheet(QStringLiteral("color: #e05048"));
    m_problem->setWordWrap(true);
    m_problem->hide();
    layout->addWidget(m_problem);
    auto *buttons = new QDialogButtonBox(QDialogButtonBox::Ok | QDialogButtonBox::Cancel, this);
    connect(buttons, &QDialogButtonBox::accepted, this, &RunSettingsDialog::accept);
    connect(buttons, &QDialogButtonBox::rejected, this, &RunSettingsDialog::reject);
    layout->addWidget(buttons);
}

QGroupBox *RunSettingsDialog::limitsGroup(const Settings &settings)
{
    auto *limits = new QGroupBox(tr("Run-wide limits (on top of each endpoint's RPM and TPM)"), this);
    auto *limitsForm = new QFormLayout(limits);
    m_rps = spin(limits, "globalRps", Bounds::GlobalRps.max, 2, tr(" requests/s"), tr("unlimited"));
    m_rps->setValue(settings.limits.rps);
    m_tpm = spin(limits, "globalTpm", Bounds::Tpm.max, 0, tr(" tokens/min"), tr("unlimited"));
    m_tpm->setValue(settings.limits.tpm);
    limitsForm->addRow(tr("&Requests per second:"), m_rps);
    limitsForm->addRow(tr("&Tokens per minute:"), m_tpm);
    return limits;
}

QGroupBox *RunSettingsDialog::budgetGroup(const Settings &settings)
{
    auto *budget = new QGroupBox(tr("Cost budget"), this);
    auto *form = new QFormLayout(budget);
    m_budget = spin(budget, "maxCostUsd", Bounds::CostUsd.max, 2, QString(), tr("none"));
    m_budget->setPrefix(QStringLiteral("$"));
    m_budget->setValue(settings.limits.maxCostUsd);
    m_budget->setToolTip(tr("What the whole run may spend, in USD (limits.max_cost_usd); 0 = no budget. A "
                            "request goes only when its worst case fits what is left; the run stops "
                            "sending at the budget, and Run offers to resume the lines not sent."));
    m_allowUnpriced =
        new QCheckBox(tr("Also send to models without a price (their cost is not counted)"), budget);
    m_allowUnpriced->setObjectName(QStringLiteral("allowUnpriced"));
    m_allowUnpriced->setChecked(settings.limits.allowUnpriced);
    m_allowUnpriced->setToolTip(tr("Without this, a run with a budget refuses to start when some endpoint's "
                                   "model has no price (limits.allow_unpriced)."));
    form->addRow(tr("Run &budget (USD):"), m_budget);
    form->addRow(QString(), m_allowUnpriced);
    return budget;
}

QGroupBox *RunSettingsDialog::retriesGroup(const Settings &settings)
{
    auto *retries = new QGroupBox(tr("Retries and timeouts"), this);
    auto *retryForm = new QFormLayout(retries);
    m_attempts = new QSpinBox(retries);
    m_attempts->setObjectName(QStringLiteral("maxAttempts"));
    m_attempts->setRange(int(Bounds::MaxAttempts.min), int(Bounds::MaxAttempts.max));
    m_attempts->setValue(settings.limits.retry.maxAttempts);
    m_attempts->setToolTip(tr("Sends per request, the first included: 1 = never retry."));
    m_backoffBase = spin(retries, "backoffBase", Bounds::BackoffMs.max, 0, tr(" ms"), QString());
    m_backoffBase->setValue(settings.limits.retry.baseDelayMs);
    m_backoffBase->setToolTip(tr("The wait before the 2nd attempt is drawn from 0 to this; it doubles "
                                 "with each attempt, up to the cap."));
    m_backoffMax = spin(retries, "backoffMax", Bounds::BackoffMs.max, 0, tr(" ms"), QString());
    m_backoffMax->setValue(settings.limits.retry.maxDelayMs);
    m_timeout = spin(retries, "attemptTimeout", Bounds::TimeoutS.max, 1, tr(" s"), QString());
    m_timeout->setMinimum(0.1);
    m_timeout->setValue(settings.timeoutS);
    m_setTimeouts = new QCheckBox(tr("Set it for every endpoint (they differ now)"), retries);
    m_setTimeouts->setObjectName(QStringLiteral("setTimeouts"));
    m_setTimeouts->setVisible(settings.timeoutsDiffer);
    m_timeout->setEnabled(!settings.timeoutsDiffer);
    connect(m_setTimeouts, &QCheckBox::toggled, m_timeout, &QWidget::setEnabled);
    retryForm->addRow(tr("&Attempts per request:"), m_attempts);
    retryForm->addRow(tr("&Backoff base:"), m_backoffBase);
    retryForm->addRow(tr("Backoff &cap:"), m_backoffMax);
    retryForm->addRow(tr("Attempt t&imeout:"), m_timeout);
    retryForm->addRow(QString(), m_setTimeouts);
    return retries;
}

QGroupBox *RunSettingsDialog::outputsGroup(const Settings &settings, const QString &requestsPath)
{
    auto *outputs = new QGroupBox(tr("Outputs"), this);
    auto *outputForm = new QFormLayout(outputs);
    const QFileInfo input(requestsPath);
    const QString base = requestsPath.isEmpty() ? QStringLiteral("requests") : input.completeBaseName();
    const QString dir = requestsPath.isEmpty() ? QString() : input.absolutePath();
    m_besideInput =
        new QCheckBox(tr("Beside the input (%1-results.jsonl, %1-errors.jsonl)").arg(base), outputs);
    m_besideInput->setObjectName(QStringLiteral("besideInput"));
    m_results = new QLineEdit(settings.resultsPath, outputs);
    m_results->setObjectName(QStringLiteral("resultsPath"));
    m_errors = new QLineEdit(settings.errorsPath, outputs);
    m_errors->setObjectName(QStringLiteral("errorsPath"));
    const auto browse = [this, dir](QLineEdit *edit, const QString &title) {
        const QString path = QFileDialog::getSaveFileName(
            this, title, edit->text().isEmpty() ? dir : edit->text(), tr("JSON Lines (*.jsonl)"), nullptr,
            QFileDialog::DontConfirmOverwrite);
        if (!path.isEmpty()) {
            edit->setText(path);
        }
    };
    auto *resultsRow = pathRow(outputs, m_results, [this, browse] { browse(m_results, tr("Results file")); });
    auto *errorsRow = pathRow(outputs, m_errors, [this, browse] { browse(m_errors, tr("Errors file")); });
    connect(m_besideInput, &QCheckBox::toggled, this, [this, resultsRow, errorsRow, dir, base](bool beside) {
        resultsRow->setEnabled(!beside);
        errorsRow->setEnabled(!beside);
        if (beside) {
            m_results->setText(
                dir.isEmpty() ? QString() : dir + QLatin1Char('/') + base + QStringLiteral("-results.jsonl"));
            m_errors->setText(
                dir.isEmpty() ? QString() : dir + QLatin1Char('/') + base + QStringLiteral("-errors.jsonl"));
        }
    });
    m_besideInput->setChecked(settings.resultsPath.isEmpty() && settings.errorsPath.isEmpty());
    resultsRow->setEnabled(!m_besideInput->isChecked());
    errorsRow->setEnabled(!m_besideInput->isChecked());
    if (m_besideInput->isChecked()) {
        Q_EMIT m_besideInput->toggled(true);
    }
    m_existing = new QComboBox(outputs);
    m_existing->setObjectName(QStringLiteral("existingOutputs"));
    for (const ExistingOutputs e :
         {ExistingOutputs::Ask, ExistingOutputs::NewFiles, ExistingOutputs::Replace}) {
        m_existing->addItem(toString(e));
    }
    m_existing->setCurrentIndex(int(settings.existing));
    outputForm->addRow(m_besideInput);
    outputForm->addRow(tr("R&esults:"), resultsRow);
    outputForm->addRow(tr("E&rrors:"), errorsRow);
    outputForm->addRow(tr("When they hold an earlier run's records:"), m_existing);
    return outputs;
}

RunSettingsDialog::Settings RunSettingsDialog::settings() const
{
    Settings s = m_initial;
    s.limits.rps = m_rps->value();
    s.limits.tpm = m_tpm->value();
    s.limits.maxCostUsd = m_budget->value();
    s.limits.allowUnpriced = m_allowUnpriced->isChecked();
    s.limits.retry.maxAttempts = m_attempts->value();
    s.limits.retry.baseDelayMs = m_backoffBase->value();
    s.limits.retry.maxDelayMs = m_backoffMax->value();
    if (!m_initial.timeoutsDiffer || m_setTimeouts->isChecked()) {
        s.timeoutS = m_timeout->value();
        s.timeoutsDiffer = false;
    }
    if (m_besideInput->isChecked()) {
        s.resultsPath.clear();
        s.errorsPath.clear();
    } else {
        s.resultsPath = m_results->text().trimmed();
        s.errorsPath = m_errors->text().trimmed();
    }
    s.existing = ExistingOutputs(m_existing->currentIndex());
    return s;
}

QString RunSettingsDialog::validate() const
{
    if (!Bounds::CostUsd.contains(m_budget->value())) {
        return tr("The budget must be from $%1 (none) to $%2.")
            .arg(Bounds::CostUsd.min)
            .arg(QLocale(QLocale::English).toString(Bounds::CostUsd.max, 'f', 0));
    }
    if (m_backoffMax->value() < m_backoffBase->value()) {
        return tr("The backoff cap (%1 ms) must be at least the backoff base (%2 ms).")
            .arg(m_backoffMax->value())
            .arg(m_backoffBase->value());
    }
    if (!m_besideInput->isChecked()) {
        const QString results = m_results->text().trimmed();
        const QString errors = m_errors->text().trimmed();
        if (results.isEmpty() || errors.isEmpty()) {
            return tr("Name both output files, or keep them beside the input.");
        }
        if (QFileInfo(results).absoluteFilePath() == QFileInfo(errors).absoluteFilePath()) {
            return tr("The results and the errors need two different files.");
        }
        for (const QString &path : {results, errors}) {
            if (!QFileInfo(QFileInfo(path).absolutePath()).isDir()) {
                return tr("The folder of %1 does not exist.").arg(path);
            }
        }
    }
    return QString();
}

void RunSettingsDialog::accept()
{
    const QString problem = validate();
    if (!problem.isEmpty()) {
        m_problem->setText(problem);
        m_problem->show();
        return;
    }
    QDialog::accept();
}

} // namespace Sluice::Gui
