#include "endpointtablemodel.h"

#include "cost/costestimate.h"

#include <QColor>
#include <QLocale>
#include <QRegularExpression>

#include <cmath>

namespace Sluice::Gui {

namespace {

bool isLiveTunable(int column)
{
    return column == EndpointTableModel::Enabled || column == EndpointTableModel::Weight ||
           column == EndpointTableModel::Rpm || column == EndpointTableModel::Tpm ||
           column == EndpointTableModel::MaxInFlight;
}

bool isLiveColumn(int column)
{
    return column >= EndpointTableModel::State && column < EndpointTableModel::ColumnCount;
}

bool isNumeric(int column)
{
    switch (column) {
    case EndpointTableModel::Weight:
    case EndpointTableModel::Rpm:
    case EndpointTableModel::Tpm:
    case EndpointTableModel::MaxInFlight:
    case EndpointTableModel::InFlight:
    case EndpointTableModel::Ok:
    case EndpointTableModel::RateLimited:
    case EndpointTableModel::Errors:
    case EndpointTableModel::P50:
    case EndpointTableModel::Ttft:
    case EndpointTableModel::Cost:
    case EndpointTableModel::Limit:
        return true;
    default:
        return false;
    }
}

/// Whole numbers with the locale's digit grouping ("60,000"); fractions with 6 significant digits.
QString formatNumber(double value)
{
    if (std::isfinite(value) && value == std::floor(value) && std::abs(value) < 1e15) {
        return QLocale().toString(qint64(value));
    }
    return QLocale().toString(value, 'g', 6);
}

QString formatRate(double value)
{
    if (value >= 100) {
        return QLocale().toString(qint64(std::llround(value)));
    }
    return QLocale().toString(value, 'g', 3);
}

QString formatLimit(const EndpointStats &s)
{
    QString text;
    if (s.limitRps > 0) {
        text = formatRate(s.limitRps) + QStringLiteral("/s");
    } else if (s.limitTps > 0) {
        text = formatRate(s.limitTps) + QStringLiteral(" tok/s");
    } else {
        return QStringLiteral("— (") + s.limitReasonText() + QLatin1Char(')');
    }
    text += QStringLiteral(" (") + s.limitReasonText() + QLatin1Char(')');
    return text;
}

QString formatLatency(double ms)
{
    if (ms <= 0) {
        return QStringLiteral("—");
    }
    if (ms < 10) {
        return QLocale().toString(ms, 'f', 1) + QStringLiteral(" ms");
    }
    return QLocale().toString(qint64(std::llround(ms))) + QStringLiteral(" ms");
}

/// Amounts below this are the rounding residue of settled reservations (spent and committed are sums of
/// doubles): shown as nothing rather than "$0.00000000".
constexpr double ResidueUsd = 1e-9;

/// "$0.0123", with "+ $0.0040" committed to its requests in flight; "—" before it spent anything.
QString formatCost(const EndpointStats &s)
{
    if (s.costSpentUsd <= ResidueUsd && s.costReservedUsd <= ResidueUsd) {
        return QStringLiteral("—");
    }
    QString text = CostEstimate::formatUsd(s.costSpentUsd);
    if (s.costReservedUsd > ResidueUsd) {
        text += QStringLiteral(" + ") + CostEstimate::formatUsd(s.costReservedUsd);
    }
    return text;
}

QString costToolTip(const EndpointStats &s)
{
    QString tip = QStringLiteral("Spent: %1\nIn flight (committed, worst case): %2")
                      .arg(CostEstimate::formatUsd(s.costSpentUsd),
                           CostEstimate::formatUsd(s.costReservedUsd > ResidueUsd ? s.costReservedUsd : 0));
    if (s.costBudgetUsd > 0) {
        tip += QStringLiteral("\nIts own budget (max_cost_usd): %1")
                   .arg(CostEstimate::formatUsd(s.costBudgetUsd));
    }
    return tip;
}

QVariant liveDisplay(const std::optional<EndpointStats> &stats, int column)
{
    if (!stats) {
        return QString();
    }
    const EndpointStats &s = *stats;
    switch (column) {
    case EndpointTableModel::State:
        return s.stateText();
    case EndpointTableModel::InFlight:
        return QLocale().toString(s.inFlight);
    case EndpointTableModel::Ok:
        return QLocale().toString(s.ok);
    case EndpointTableModel::RateLimited:
        return QLocale().toString(s.rateLimited);
    case EndpointTableModel::Errors:
        return QLocale().toString(s.errors);
    case EndpointTableModel::P50:
        return formatLatency(s.p50Ms);
    case EndpointTableModel::Ttft:
        return s.streams > 0 ? formatLatency(s.ttftP50Ms) : QStringLiteral("—");
    case EndpointTableModel::Cost:
        return formatCost(s);
    case EndpointTableModel::Limit:
        return formatLimit(s);
    default:
        return QVariant();
    }
}

QVariant liveEdit(const std::optional<EndpointStats> &stats, int column)
{
    if (!stats) {
        return QVariant();
    }
    const EndpointStats &s = *stats;
    switch (column) {
    case EndpointTableModel::State:
        return s.stateText();
    case EndpointTableModel::InFlight:
        return s.inFlight;
    case EndpointTableModel::Ok:
        return s.ok;
    case EndpointTableModel::RateLimited:
        return s.rateLimited;
    case EndpointTableModel::Errors:
        return s.errors;
    case EndpointTableModel::P50:
        return s.p50Ms;
    case EndpointTableModel::Ttft:
        return s.ttftP50Ms;
    case EndpointTableModel::Cost:
        return s.costSpentUsd;
    case EndpointTableModel::Limit:
        return s.limitRps;
    default:
        return QVariant();
    }
}

/// Mid-luminance colours: readable on both light and dark palettes, and only on the State cell.
QVariant stateForeground(const std::optional<EndpointStats> &stats)
{
    if (!stats) {
        return QVariant();
    }
    switch (stats->state) {
    case EndpointState::CoolingDown:
    case EndpointState::Probing:
    case EndpointState::SharedCooldown:
        return QColor(0xd0, 0x8a, 0x10); // amber: waiting for a limit, back by itself
    case EndpointState::Quota:
    case EndpointState::Overloaded:
    case EndpointState::Unreachable:
    case EndpointState::Failing:
        return QColor(0xe0, 0x50, 0x48); // red: something is wrong with the endpoint
    case EndpointState::Disabled:
        return QColor(0x80, 0x80, 0x80); // grey
    case EndpointState::Active:
        break;
    }
    return QVariant();
}

bool toNumber(const QVariant &value, double *out)
{
    if (value.typeId() == QMetaType::QString) {
        const QString text = value.toString().trimmed();
        if (text.compare(QLatin1String("unlimited"), Qt::CaseInsensitive) == 0) {
            *out = 0;
            return true;
        }
        bool ok = false;
        *out = QLocale().toDouble(text, &ok);
        if (!ok) {
            *out = text.toDouble(&ok);
        }
        return ok;
    }
    bool ok = false;
    *out = value.toDouble(&ok);
    return ok;
}

QString headerText(int section)
{
    switch (section) {
    case EndpointTableModel::Enabled:
        return QStringLiteral("On");
    case EndpointTableModel::Name:
        return QStringLiteral("Name");
    case EndpointTableModel::Url:
        return QStringLiteral("URL");
    case EndpointTableModel::Provider:
        return QStringLiteral("Provider");
    case EndpointTableModel::KeyEnv:
        return QStringLiteral("Key env");
    case EndpointTableModel::Model:
        return QStringLiteral("Model");
    case EndpointTableModel::Weight:
        return QStringLiteral("Weight");
    case EndpointTableModel::Rpm:
        return QStringLiteral("RPM");
    case EndpointTableModel::Tpm:
        return QStringLiteral("TPM");
    case EndpointTableModel::MaxInFlight:
        return QStringLiteral("Max in flight");
    case EndpointTableModel::Stream:
        return QStringLiteral("Stream");
    case EndpointTableModel::State:
        return QStringLiteral("State");
    case EndpointTableModel::InFlight:
        return QStringLiteral("In flight");
    case EndpointTableModel::Ok:
        return QStringLiteral("OK");
    case EndpointTableModel::RateLimited:
        return QStringLiteral("429");
    case EndpointTableModel::Errors:
        return QStringLiteral("Errors");
    case EndpointTableModel::P50:
        return QStringLiteral("p50");
    case EndpointTableModel::Ttft:
        return QStringLiteral("TTFT p50");
    case EndpointTableModel::Cost:
        return QStringLiteral("Cost");
    case EndpointTableModel::Limit:
        return QStringLiteral("Limit");
    default:
        return QString();
    }
}

QString headerToolTip(int section)
{
    switch (section) {
    case EndpointTableModel::Enabled:
        return QStringLiteral("Send traffic to this endpoint. Unchecking sets its weight to 0; checking "
                              "restores the previous weight. Can be changed during a run.");
    case EndpointTableModel::Name:
        return QStringLiteral("Unique name, written to the \"endpoint\" field of each record.");
    case EndpointTableModel::Url:
        return QStringLiteral("Full http:// or https:// URL of the chat-completions or messages route.");
    case EndpointTableModel::Provider:
        return QStringLiteral("API dialect: openai (any OpenAI-compatible server) or anthropic "
                              "(Messages API). Inferred from the URL: a path ending in /messages is "
                              "anthropic.");
    case EndpointTableModel::KeyEnv:
        return QStringLiteral("Name of the environment variable holding the API key. The key itself is "
                              "never stored in the project.");
    case EndpointTableModel::Model:
        return QStringLiteral("Model filled in for requests that name none.");
    case EndpointTableModel::Weight:
        return QStringLiteral("Share of traffic relative to the other endpoints; 0 disables the endpoint. "
                              "Can be changed during a run.");
    case EndpointTableModel::Rpm:
        return QStringLiteral("Requests per minute this endpoint may receive; 0 = unlimited. Can be "
                              "changed during a run.");
    case EndpointTableModel::Tpm:
        return QStringLiteral("Tokens per minute (prompt estimate + max output, settled on usage); "
                              "0 = unlimited. Can be changed during a run.");
    case EndpointTableModel::MaxInFlight:
        return QStringLiteral("Most concurrent requests to this endpoint (1–100000). Can be changed "
                              "during a run.");
    case EndpointTableModel::Stream:
        return QStringLiteral("Ask for streamed (SSE) replies: results are the same, with time to first "
                              "token (ttft_ms) and output tokens/s. A request's own \"stream\" wins.");
    case EndpointTableModel::State:
        return QStringLiteral("Live state: active, cooling down (after 429s), probing, overloaded, "
                              "quota exhausted or disabled.");
    case EndpointTableModel::InFlight:
        return QStringLiteral("Requests currently waiting for an answer from this endpoint.");
    case EndpointTableModel::Ok:
        return QStringLiteral("Successful (2xx) answers.");
    case EndpointTableModel::RateLimited:
        return QStringLiteral("429 (rate limited) answers received.");
    case EndpointTableModel::Errors:
        return QStringLiteral("Failed attempts other than 429: other HTTP errors, timeouts, transport "
                              "failures.");
    case EndpointTableModel::P50:
        return QStringLiteral("Median latency of successful requests, in milliseconds.");
    case EndpointTableModel::Ttft:
        return QStringLiteral("Median time to first token of its streamed replies, in milliseconds.");
    case EndpointTableModel::Cost:
        return QStringLiteral("What its replies cost so far (USD, priced models only), then \"+\" what is "
                              "committed to its requests in flight (their worst case; runs with a budget).");
    case EndpointTableModel::Limit:
        return QStringLiteral("Effective limit right now and what sets it (configured rpm/tpm, rate-limit "
                              "headers, 429 backoff, ...).");
    default:
        return QString();
    }
}

/// A cell's DisplayRole: the configuration as the operator reads it, then the live statistics.
QVariant displayOf(const EndpointConfig &e, const std::optional<EndpointStats> &stats, int column)
{
    switch (column) {
    case EndpointTableModel::Enabled:
        return QVariant();
    case EndpointTableModel::Name:
        return e.name;
    case EndpointTableModel::Url:
        return e.url.toString();
    case EndpointTableModel::Provider:
        return toString(e.provider);
    case EndpointTableModel::KeyEnv:
        return e.apiKeyEnv;
    case EndpointTableModel::Model:
        return e.model;
    case EndpointTableModel::Weight:
        return formatNumber(e.weight);
    case EndpointTableModel::Rpm:
        return e.rpm == 0 ? QStringLiteral("unlimited") : formatNumber(e.rpm);
    case EndpointTableModel::Tpm:
        return e.tpm == 0 ? QStringLiteral("unlimited") : formatNumber(e.tpm);
    case EndpointTableModel::MaxInFlight:
        return QLocale().toString(e.maxInFlight);
    case EndpointTableModel::Stream:
        return QVariant();
    default:
        return liveDisplay(stats, column);
    }
}

/// A cell's EditRole: the configuration's values, then the live statistics' numbers.
QVariant editOf(const EndpointConfig &e, const std::optional<EndpointStats> &stats, int column)
{
    switch (column) {
    case EndpointTableModel::Enabled:
        return e.weight > 0;
    case EndpointTableModel::Name:
        return e.name;
    case EndpointTableModel::Url:
        return e.url.toString();
    case EndpointTableModel::Provider:
        return toString(e.provider);
    case EndpointTableModel::KeyEnv:
        return e.apiKeyEnv;
    case EndpointTableModel::Model:
        return e.model;
    case EndpointTableModel::Weight:
        return e.weight;
    case EndpointTableModel::Rpm:
        return e.rpm;
    case EndpointTableModel::Tpm:
        return e.tpm;
    case EndpointTableModel::MaxInFlight:
        return e.maxInFlight;
    case EndpointTableModel::Stream:
        return e.stream;
    default:
        return liveEdit(stats, column);
    }
}

bool isValidIndex(const QModelIndex &index, const QAbstractItemModel *model)
{
    return index.isValid() && index.model() == model && index.row() < model->rowCount() &&
           index.column() < EndpointTableModel::ColumnCount;
}

} // namespace

EndpointTableModel::EndpointTableModel(QObject *parent)
    : QAbstractTableModel(parent)
{
}

void EndpointTableModel::setEndpoints(const QList<Sluice::EndpointConfig> &endpoints)
{
    beginResetModel();
    m_endpoints = endpoints;
    m_savedWeights.clear();
    for (const EndpointConfig &e : endpoints) {
        m_savedWeights.append(e.weight > 0 ? e.weight : 1.0);
    }
    m_stats = QList<std::optional<EndpointStats>>(endpoints.size());
    endResetModel();
}

void EndpointTableModel::applySnapshot(const Sluice::MetricsSnapshot &snapshot)
{
    const int rows = int(std::min(m_endpoints.size(), snapshot.endpoints.size()));
    for (int row = 0; row < rows; ++row) {
        const std::optional<EndpointStats> old = m_stats.at(row);
        m_stats[row] = snapshot.endpoints.at(row);
        const std::optional<EndpointStats> &fresh = m_stats.at(row);
        int first = -1;
        for (int column = State; column <= ColumnCount; ++column) {
            bool changed = false;
            if (column < ColumnCount) {
                changed = liveDisplay(old, column) != liveDisplay(fresh, column) ||
                          (column == State && stateForeground(old) != stateForeground(fresh));
            }
            if (changed && first < 0) {
                first = column;
            } else if (!changed && first >= 0) {
                emitRowRange(row, first, column - 1);
                first = -1;
            }
        }
    }
}

void EndpointTableModel::clearStats()
{
    bool any = false;
    for (std::optional<EndpointStats> &s : m_stats) {
        any = any || s.has_value();
        s.reset();
    }
    if (any) {
        Q_EMIT dataChanged(index(0, State), index(rowCount() - 1, ColumnCount - 1));
    }
}

void EndpointTableModel::setRunning(bool running)
{
    m_running = running;
}

int EndpointTableModel::addEndpoint()
{
    if (m_running) {
        return -1;
    }
    EndpointConfig e;
    e.name = uniqueName(QStringLiteral("endpoint-%1").arg(m_endpoints.size() + 1));
    e.url = QUrl(QStringLiteral("http://127.0.0.1:8000/v1/chat/completions"));
    e.provider = EndpointConfig::inferProvider(e.url);
    e.weight = 1;
    e.maxInFlight = 64;
    const int row = int(m_endpoints.size());
    beginInsertRows(QModelIndex(), row, row);
    m_endpoints.append(e);
    m_savedWeights.append(1.0);
    m_stats.append(std::nullopt);
    endInsertRows();
    Q_EMIT configurationEdited();
    return row;
}

int EndpointTableModel::duplicateEndpoint(int row)
{
    if (m_running || row < 0 || row >= m_endpoints.size()) {
        return -1;
    }
    EndpointConfig copy = m_endpoints.at(row);
    // A copy of "x-copy-2" is named like a copy of "x" ("x-copy-3"), not "x-copy-2-copy".
    static const QRegularExpression copySuffix(QStringLiteral("-copy(-\\d+)?$"));
    QString stem = copy.name;
    stem.remove(copySuffix);
    copy.name = uniqueName(stem + QStringLiteral("-copy"));
    const int newRow = row + 1;
    beginInsertRows(QModelIndex(), newRow, newRow);
    m_endpoints.insert(newRow, copy);
    m_savedWeights.insert(newRow, m_savedWeights.at(row));
    m_stats.insert(newRow, std::nullopt);
    endInsertRows();
    Q_EMIT configurationEdited();
    return newRow;
}

bool EndpointTableModel::removeEndpoint(int row)
{
    if (m_running || row < 0 || row >= m_endpoints.size()) {
        return false;
    }
    beginRemoveRows(QModelIndex(), row, row);
    m_endpoints.removeAt(row);
    m_savedWeights.removeAt(row);
    m_stats.removeAt(row);
    endRemoveRows();
    Q_EMIT configurationEdited();
    return true;
}

int EndpointTableModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_endpoints.size());
}

int EndpointTableModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(ColumnCount);
}

QVariant EndpointTableModel::data(const QModelIndex &index, int role) const
{
    if (!isValidIndex(index, this)) {
        return QVariant();
    }
    const int row = index.row();
    const int column = index.column();
    const EndpointConfig &e = m_endpoints.at(row);

    switch (role) {
    case Qt::DisplayRole:
        return displayOf(e, m_stats.at(row), column);
    case Qt::EditRole:
        return editOf(e, m_stats.at(row), column);
    case Qt::CheckStateRole:
        if (column == Enabled) {
            return e.weight > 0 ? Qt::Checked : Qt::Unchecked;
        }
        if (column == Stream) {
            return e.stream ? Qt::Checked : Qt::Unchecked;
        }
        return QVariant();
    case Qt::TextAlignmentRole:
        if (isNumeric(column)) {
            return int(Qt::AlignRight | Qt::AlignVCenter);
        }
        return QVariant();
    case Qt::ForegroundRole:
        if (column == State) {
            return stateForeground(m_stats.at(row));
        }
        return QVariant();
    case Qt::ToolTipRole:
        return toolTip(row, column);
    default:
        return QVariant();
    }
}

QVariant EndpointTableModel::toolTip(int row, int column) const
{
    if (column == Url) {
        return m_endpoints.at(row).url.toString();
    }
    if (column == Limit && m_stats.at(row)) {
        return formatLimit(*m_stats.at(row));
    }
    if (column == Cost && m_stats.at(row)) {
        return costToolTip(*m_stats.at(row));
    }
    return QVariant();
}

QVariant EndpointTableModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation == Qt::Vertical) {
        if (role == Qt::DisplayRole && section >= 0 && section < m_endpoints.size()) {
            return section + 1;
        }
        return QVariant();
    }
    if (section < 0 || section >= ColumnCount) {
        return QVariant();
    }
    switch (role) {
    case Qt::DisplayRole:
        return headerText(section);
    case Qt::ToolTipRole:
        return headerToolTip(section);
    case Qt::TextAlignmentRole:
        return isNumeric(section) ? int(Qt::AlignRight | Qt::AlignVCenter) : QVariant();
    default:
        return QVariant();
    }
}

Qt::ItemFlags EndpointTableModel::flags(const QModelIndex &index) const
{
    if (!isValidIndex(index, this)) {
        return Qt::NoItemFlags;
    }
    Qt::ItemFlags f = Qt::ItemIsEnabled | Qt::ItemIsSelectable | Qt::ItemNeverHasChildren;
    const int column = index.column();
    if (column == Enabled) {
        return f | Qt::ItemIsUserCheckable;
    }
    if (column == Stream) {
        return m_running ? f : f | Qt::ItemIsUserCheckable;
    }
    if (isLiveColumn(column)) {
        return f;
    }
    if (!m_running || isLiveTunable(column)) {
        f |= Qt::ItemIsEditable;
    }
    return f;
}

bool EndpointTableModel::setData(const QModelIndex &index, const QVariant &value, int role)
{
    if (!isValidIndex(index, this)) {
        return false;
    }
    const int column = index.column();
    const bool checkable = column == Enabled || column == Stream;
    if (checkable ? (role != Qt::CheckStateRole && role != Qt::EditRole) : role != Qt::EditRole) {
        return false;
    }
    m_lastError.clear();
    if (isLiveColumn(column)) {
        refuse(tr("%1 is measured during the run; it cannot be edited.").arg(headerText(column)));
    } else if (m_running && !isLiveTunable(column)) {
        refuse(tr("%1 cannot change during a run: stop the run first (weight, RPM, TPM, max in flight and "
                  "On can).")
                   .arg(headerText(column)));
    } else if (setValue(index.row(), column, value, role)) {
        return true;
    }
    if (m_lastError.isEmpty()) {
        m_lastError = tr("Not a valid value.");
    }
    Q_EMIT editRejected(index, m_lastError);
    return false;
}

bool EndpointTableModel::refuse(const QString &reason)
{
    m_lastError = reason;
    return false;
}

bool EndpointTableModel::setValue(int row, int column, const QVariant &value, int role)
{
    EndpointConfig &e = m_endpoints[row];
    const EndpointConfig before = e;
    const QVariant editBefore = data(index(row, column), Qt::EditRole);

    switch (column) {
    case Enabled: {
        bool enable = false;
        if (role == Qt::CheckStateRole) {
            bool ok = false;
            const int state = value.toInt(&ok);
            if (!ok || (state != Qt::Unchecked && state != Qt::Checked)) {
                return refuse(tr("On is checked or unchecked."));
            }
            enable = state == Qt::Checked;
        } else {
            if (!value.canConvert<bool>()) {
                return refuse(tr("On is checked or unchecked."));
            }
            enable = value.toBool();
        }
        if (enable == (e.weight > 0)) {
            return true;
        }
        setWeight(row, enable ? m_savedWeights.at(row) : 0.0);
        break;
    }
    case Name: {
        const QString name = value.toString().trimmed();
        if (name.isEmpty()) {
            return refuse(tr("A name cannot be empty: results name the endpoint of each line."));
        }
        if (isNameTaken(name, row)) {
            return refuse(
                tr("\"%1\" is already the name of another endpoint: names must be unique.").arg(name));
        }
        e.name = name;
        break;
    }
    case Url: {
        const QUrl url(value.toString().trimmed(), QUrl::StrictMode);
        if (!Sluice::EndpointConfig::isEndpointUrl(url)) {
            return refuse(tr("\"%1\" is not an http:// or https:// URL with a host, e.g. "
                             "https://api.openai.com/v1/chat/completions.")
                              .arg(value.toString().trimmed()));
        }
        // The provider follows the URL only while it still is what the old URL implied; a provider
        // the user chose explicitly (differing from the inference) is kept.
        if (e.provider == EndpointConfig::inferProvider(e.url)) {
            e.provider = EndpointConfig::inferProvider(url);
        }
        e.url = url;
        break;
    }
    case Provider: {
        const QString text = value.toString().trimmed().toLower();
        if (text == QLatin1String("openai")) {
            e.provider = Sluice::Provider::OpenAI;
        } else if (text == QLatin1String("anthropic")) {
            e.provider = Sluice::Provider::Anthropic;
        } else {
            return refuse(tr("Provider is openai (any OpenAI-compatible server) or anthropic."));
        }
        break;
    }
    case KeyEnv: {
        static const QRegularExpression envName(QStringLiteral("^[A-Za-z_][A-Za-z0-9_]*$"));
        const QString text = value.toString().trimmed();
        if (!text.isEmpty() && !envName.match(text).hasMatch()) {
            return refuse(tr("\"%1\" is not an environment variable name (letters, digits and _, not "
                             "starting with a digit). Put the variable's name here, never the key.")
                              .arg(text));
        }
        e.apiKeyEnv = text;
        break;
    }
    case Model:
        e.model = value.toString().trimmed();
        break;
    case Stream: {
        bool stream = false;
        if (role == Qt::CheckStateRole) {
            bool ok = false;
            const int state = value.toInt(&ok);
            if (!ok || (state != Qt::Unchecked && state != Qt::Checked)) {
                return refuse(tr("Stream is checked or unchecked."));
            }
            stream = state == Qt::Checked;
        } else {
            if (!value.canConvert<bool>()) {
                return refuse(tr("Stream is checked or unchecked."));
            }
            stream = value.toBool();
        }
        e.stream = stream;
        break;
    }
    case Weight: {
        double v = 0;
        // The bounds are the project file's (an edited project always loads again).
        if (!toNumber(value, &v) || !Bounds::Weight.contains(v)) {
            return refuse(tr("Weight is a number from 0 to %1 (0 switches the endpoint off); \"%2\" is not.")
                              .arg(QLocale(QLocale::English).toString(qint64(Bounds::Weight.max)),
                                   value.toString().trimmed()));
        }
        setWeight(row, v);
        break;
    }
    case Rpm:
    case Tpm: {
        double v = 0;
        const Range range = column == Rpm ? Bounds::Rpm : Bounds::Tpm;
        const double max = range.max;
        if (!toNumber(value, &v) || !range.contains(v)) {
            return refuse(tr("%1 is a number from 0 to %2, or \"unlimited\" (0); \"%3\" is not.")
                              .arg(headerText(column), QLocale(QLocale::English).toString(qint64(max)),
                                   value.toString().trimmed()));
        }
        (column == Rpm ? e.rpm : e.tpm) = v;
        break;
    }
    case MaxInFlight: {
        double v = 0;
        if (!toNumber(value, &v) || v != std::floor(v) || !Bounds::MaxInFlight.contains(v)) {
            return refuse(tr("Max in flight is a whole number from 1 to %1; \"%2\" is not.")
                              .arg(QLocale(QLocale::English).toString(qint64(Bounds::MaxInFlight.max)),
                                   value.toString().trimmed()));
        }
        e.maxInFlight = int(v);
        break;
    }
    default:
        return false;
    }

    const bool enabledChanged = (before.weight > 0) != (e.weight > 0);
    const bool weightChanged = before.weight != e.weight;
    const bool providerChanged = before.provider != e.provider;
    bool changed = true;
    switch (column) {
    case Enabled:
    case Weight:
        changed = enabledChanged || weightChanged;
        if (enabledChanged) {
            emitRowRange(row, Enabled, Enabled);
        }
        if (weightChanged) {
            emitRowRange(row, Weight, Weight);
        }
        break;
    case Url:
        changed = before.url != e.url || providerChanged;
        if (changed) {
            emitRowRange(row, Url, providerChanged ? int(Provider) : int(Url));
        }
        break;
    default:
        changed = data(index(row, column), Qt::EditRole) != editBefore;
        if (changed) {
            emitRowRange(row, column, column);
        }
        break;
    }
    // Setting the current value again succeeds quietly: no signal, nothing to forward.
    if (changed && m_running && isLiveTunable(column)) {
        Q_EMIT liveEditRequested(row, e);
    }
    if (changed) {
        Q_EMIT configurationEdited();
    }
    return true;
}

void EndpointTableModel::setWeight(int row, double weight)
{
    m_endpoints[row].weight = weight;
    if (weight > 0) {
        m_savedWeights[row] = weight;
    }
}

void EndpointTableModel::emitRowRange(int row, int first, int last)
{
    Q_EMIT dataChanged(index(row, first), index(row, last));
}

bool EndpointTableModel::isNameTaken(const QString &name, int exceptRow) const
{
    for (int i = 0; i < m_endpoints.size(); ++i) {
        if (i != exceptRow && m_endpoints.at(i).name == name) {
            return true;
        }
    }
    return false;
}

QString EndpointTableModel::uniqueName(const QString &base) const
{
    if (!isNameTaken(base, -1)) {
        return base;
    }
    // "endpoint-3" taken: try "endpoint-4", ...; "x-copy" taken: "x-copy-2", ...
    static const QRegularExpression numbered(QStringLiteral("^(.*-)(\\d+)$"));
    const QRegularExpressionMatch m = numbered.match(base);
    const QString stem = m.hasMatch() ? m.captured(1) : base + QLatin1Char('-');
    for (qint64 n = m.hasMatch() ? m.captured(2).toLongLong() + 1 : 2;; ++n) {
        const QString candidate = stem + QString::number(n);
        if (!isNameTaken(candidate, -1)) {
            return candidate;
        }
    }
}

} // namespace Sluice::Gui
