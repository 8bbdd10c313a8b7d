#include "resultsbrowser.h"

#include <QApplication>
#include <QClipboard>
#include <QComboBox>
#include <QFileInfo>
#include <QFontDatabase>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineEdit>
#include <QLocale>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSplitter>
#include <QTableView>
#include <QThread>
#include <QVBoxLayout>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>

namespace Sluice::Gui {

namespace {

using json = nlohmann::json;

constexpr qsizetype MaxShownBytes = 256 * 1024; ///< of one reply or request in the detail pane

/// `text` pretty-printed when it is JSON, else as it is; cut at MaxShownBytes.
QString pretty(const QByteArray &text)
{
    const json j = json::parse(text.constBegin(), text.constEnd(), nullptr, false);
    QString shown = j.is_discarded()
                        ? QString::fromUtf8(text)
                        : QString::fromStdString(j.dump(2, ' ', false, json::error_handler_t::replace));
    if (shown.size() > MaxShownBytes) {
        shown = shown.left(MaxShownBytes) +
                QStringLiteral("\n… (%L1 more characters)").arg(shown.size() - MaxShownBytes);
    }
    return shown;
}

QString dumpOf(const json &j)
{
    return pretty(QByteArray::fromStdString(j.dump(-1, ' ', false, json::error_handler_t::replace)));
}

} // namespace

ResultsBrowser::ResultsBrowser(QWidget *parent)
    : QWidget(parent)
    , m_model(new ResultsModel(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->setContentsMargins(2, 2, 2, 2);
    auto *bar = new QHBoxLayout;
    auto *label = new QLabel(tr("&Find:"), this);
    m_search = new QLineEdit(this);
    m_search->setObjectName(QStringLiteral("resultsSearch"));
    m_search->setPlaceholderText(tr("line number or custom_id"));
    m_search->setClearButtonEnabled(true);
    label->setBuddy(m_search);
    auto *find = new QPushButton(tr("Find"), this);
    m_filter = new QComboBox(this);
    m_filter->setObjectName(QStringLiteral("resultsFilter"));
    m_filter->addItems({tr("All records"), tr("Successes"), tr("Errors")});
    auto *copy = new QPushButton(tr("&Copy record"), this);
    copy->setObjectName(QStringLiteral("copyRecord"));
    m_status = new QLabel(this);
    m_status->setObjectName(QStringLiteral("resultsStatus"));
    bar->addWidget(label);
    bar->addWidget(m_search, 1);
    bar->addWidget(find);
    bar->addWidget(m_filter);
    bar->addWidget(copy);
    layout->addLayout(bar);
    layout->addWidget(m_status);

    auto *split = new QSplitter(Qt::Horizontal, this);
    split->setChildrenCollapsible(false);
    m_table = new QTableView(split);
    m_table->setObjectName(QStringLiteral("resultsTable"));
    m_table->setModel(m_model);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_table->setSelectionMode(QAbstractItemView::SingleSelection);
    m_table->verticalHeader()->hide();
    m_table->horizontalHeader()->setStretchLastSection(false);
    m_table->setMinimumWidth(200);
    m_detail = new QPlainTextEdit(split);
    m_detail->setObjectName(QStringLiteral("recordDetail"));
    m_detail->setReadOnly(true);
    m_detail->setLineWrapMode(QPlainTextEdit::WidgetWidth);
    m_detail->setWordWrapMode(QTextOption::WrapAtWordBoundaryOrAnywhere);
    m_detail->setMinimumWidth(200);
    m_detail->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    split->addWidget(m_table);
    split->addWidget(m_detail);
    split->setStretchFactor(0, 3);
    split->setStretchFactor(1, 2);
    layout->addWidget(split, 1);

    connect(find, &QPushButton::clicked, this, [this] { search(m_search->text()); });
    connect(m_search, &QLineEdit::returnPressed, this, [this] { search(m_search->text()); });
    connect(copy, &QPushButton::clicked, this, &ResultsBrowser::copyOpen);
    connect(m_filter, &QComboBox::currentIndexChanged, this, [this](int index) {
        m_model->setFilter(ResultsModel::Filter(std::clamp(index, 0, 2)));
        m_detail->clear();
    });
    connect(m_table->selectionModel(), &QItemSelectionModel::currentRowChanged, this,
            [this](const QModelIndex &current) {
                if (current.isValid()) {
                    open(current.row());
                }
            });
    clear();
}

ResultsBrowser::~ResultsBrowser()
{
    if (m_cancel) {
        m_cancel->store(true);
    }
}

void ResultsBrowser::clear()
{
    if (m_cancel) {
        m_cancel->store(true);
    }
    ++m_generation;
    m_loading = false;
    m_model->clear();
    m_detail->clear();
    m_openRecord.clear();
    m_status->setText(tr("No records yet: the records of a run can be searched here when it ends."));
}

void ResultsBrowser::load(const QString &resultsPath, const QString &errorsPath, const QString &requestsPath)
{
    clear();
    m_loading = true;
    m_status->setText(
        tr("Reading %1 and %2…").arg(QFileInfo(resultsPath).fileName(), QFileInfo(errorsPath).fileName()));
    auto cancel = std::make_shared<std::atomic_bool>(false);
    m_cancel = cancel;
    auto index = std::make_shared<ResultsModel::Index>();
    const quint64 generation = m_generation;
    QThread *worker = QThread::create(
        [=] { *index = ResultsModel::build(resultsPath, errorsPath, requestsPath, cancel.get()); });
    connect(worker, &QThread::finished, this, [this, worker, index, generation] {
        worker->deleteLater();
        handleLoaded(*index, generation);
    });
    worker->start(QThread::LowPriority);
}

void ResultsBrowser::handleLoaded(const ResultsModel::Index &index, quint64 generation)
{
    if (generation != m_generation) {
        return; // cleared or reloaded meanwhile
    }
    m_loading = false;
    m_model->setIndex(index);
    qint64 failed = 0;
    for (const ResultsModel::Row &row : index.rows) {
        failed += row.error ? 1 : 0;
    }
    const QLocale locale(QLocale::English);
    QString status =
        tr("%1 records: %2 results, %3 errors. Type a line number or a custom_id and press Enter.")
            .arg(locale.toString(qint64(index.rows.size())),
                 locale.toString(qint64(index.rows.size()) - failed), locale.toString(failed));
    if (!index.error.isEmpty()) {
        status += QLatin1Char(' ') + index.error;
    }
    if (index.unreadable > 0) {
        status += tr(" %1 lines of the outputs are not records.").arg(locale.toString(index.unreadable));
    }
    m_status->setText(status);
    m_table->resizeColumnsToContents();
    Q_EMIT loaded();
}

bool ResultsBrowser::search(const QString &input)
{
    const QString text = input.trimmed();
    if (text.isEmpty()) {
        return false;
    }
    bool isNumber = false;
    const qint64 line = text.toLongLong(&isNumber);
    int row = isNumber ? m_model->rowForLine(line) : -1;
    QString found;
    if (row < 0) {
        const QList<int> rows = m_model->rowsForCustomId(text, 1000);
        if (!rows.isEmpty()) {
            row = rows.first();
            found = rows.size() == 1 ? tr("custom_id \"%1\": 1 record").arg(text)
                                     : tr("custom_id containing \"%1\": %2%3 records, showing the first")
                                           .arg(text)
                                           .arg(rows.size())
                                           .arg(rows.size() >= 1000 ? QStringLiteral("+") : QString());
        }
    } else {
        found = tr("line %1").arg(line);
    }
    if (row < 0) {
        m_status->setText(m_loading ? tr("Still reading the outputs; try again in a moment.")
                          : isNumber
                              ? tr("No record for line %1 (a line that was never sent, a blank line, or "
                                   "past the end of the file), and no custom_id contains \"%1\".")
                                    .arg(text)
                              : tr("No custom_id contains \"%1\".").arg(text));
        return false;
    }
    m_status->setText(tr("Found %1.").arg(found));
    m_table->setCurrentIndex(m_model->index(row, 0));
    m_table->scrollTo(m_model->index(row, 0), QAbstractItemView::PositionAtCenter);
    open(row);
    return true;
}

void ResultsBrowser::open(int row)
{
    if (row < 0 || row >= m_model->rowCount()) {
        return;
    }
    const ResultsModel::Row &r = m_model->rowAt(row);
    m_openRecord = m_model->recordText(row);
    const json record = json::parse(m_openRecord.constBegin(), m_openRecord.constEnd(), nullptr, false);
    const QLocale locale(QLocale::English);
    QStringList facts;
    facts << tr("Line %1").arg(locale.toString(r.line));
    facts << QStringLiteral("custom_id \"%1\"").arg(m_model->customId(r));
    facts << (r.error ? tr("failed: %1").arg(m_model->outcomeText(r)) : tr("succeeded"));
    const QString endpoint = m_model->records().endpoints.value(r.endpoint);
    facts << (endpoint.isEmpty() ? tr("never sent") : tr("endpoint %1").arg(endpoint));
    facts << (r.attempts == 1 ? tr("1 attempt") : tr("%1 attempts").arg(r.attempts));
    if (r.latencyMs >= 0) {
        facts << locale.toString(qint64(std::llround(r.latencyMs))) + QStringLiteral(" ms");
    }
    if (r.status > 0) {
        facts << QStringLiteral("HTTP %1").arg(r.status);
    }
    QString text = facts.join(QStringLiteral(" · ")) + QStringLiteral("\n\n");
    if (r.error && record.is_object()) {
        const auto error = record.find("error");
        text += tr("Reason: %1\n\n")
                    .arg(error != record.end() && error->is_string()
                             ? QString::fromStdString(error->get<std::string>())
                             : tr("(none recorded)"));
    }
    const QByteArray request = m_model->inputLine(r.line);
    if (r.error && record.is_object() && record.contains("input")) {
        text += tr("Original line %1 (as the errors file records it):\n").arg(r.line) +
                dumpOf(record["input"]) + QStringLiteral("\n\n");
    } else if (!request.isEmpty()) {
        text += tr("Request (line %1 of %2):\n")
                    .arg(r.line)
                    .arg(QFileInfo(m_model->records().requestsPath).fileName());
        text += pretty(request) + QStringLiteral("\n\n");
    } else {
        text += tr("Request: line %1 cannot be read from %2 (moved or changed since the run?)\n\n")
                    .arg(r.line)
                    .arg(m_model->records().requestsPath);
    }
    if (!r.error && record.is_object()) {
        const auto response = record.find("response");
        if (response != record.end() && response->is_object() && response->contains("body")) {
            text += tr("Reply:\n") + dumpOf((*response)["body"]) + QStringLiteral("\n\n");
        }
    }
    text += tr("Record (%1):\n")
                .arg(QFileInfo(r.error ? m_model->records().errorsPath : m_model->records().resultsPath)
                         .fileName());
    text += QString::fromUtf8(m_openRecord.left(MaxShownBytes));
    m_detail->setPlainText(text);
}

QString ResultsBrowser::detailText() const
{
    return m_detail->toPlainText();
}

void ResultsBrowser::copyOpen() const
{
    if (!m_detail->toPlainText().isEmpty()) {
        QApplication::clipboard()->setText(m_detail->toPlainText());
    }
}

} // namespace Sluice::Gui
