#pragma once

#include "config/projectconfig.h"
#include "metrics/metrics.h"

#include <QAbstractTableModel>
#include <QList>

#include <optional>

namespace Sluice::Gui {

/// The endpoints table: one row per endpoint, configuration columns (editable) and live columns
/// (read-only, refreshed from each MetricsSnapshot: only changed cells are signalled).
///
/// The model holds the project's endpoint list (the source of truth before a run). During a run,
/// edits to live-tunable columns (Weight, Rpm, Tpm, MaxInFlight, Enabled) are validated, stored, and
/// announced with `liveEditRequested` so the window can forward them to the engine; other columns are
/// read-only while running (`setRunning(true)`). setData validates: a bad value returns false, changes
/// nothing (e.g. negative weight, non-http URL, empty or duplicate name) and says why in editRejected().
class EndpointTableModel : public QAbstractTableModel
{
    Q_OBJECT

public:
    enum Column {
        Enabled, ///< checkbox: weight > 0 (unchecking stores the weight and sets 0; checking restores it)
        Name,
        Url,
        Provider, ///< "openai" / "anthropic"
        KeyEnv,   ///< api_key_env
        Model,
        Weight,      ///< spin box, live
        Rpm,         ///< live
        Tpm,         ///< live
        MaxInFlight, ///< live
        Stream,      ///< checkbox: ask for streamed (SSE) replies (not during a run)
        State,       ///< live: active / cooling down / probing / overloaded / quota exhausted / disabled
        InFlight,
        Ok,
        RateLimited, ///< 429s
        Errors,
        P50,   ///< ms
        Ttft,  ///< streamed replies: time to first token p50 (ms)
        Cost,  ///< what its attempts cost so far (USD), and what is committed to its requests in flight
        Limit, ///< current effective limit "12.5/s (header limit)"
        ColumnCount
    };

    explicit EndpointTableModel(QObject *parent = nullptr);

    void setEndpoints(const QList<Sluice::EndpointConfig> &endpoints);
    QList<Sluice::EndpointConfig> endpoints() const { return m_endpoints; }
    /// Applies live statistics (index-aligned with the endpoints); emits dataChanged for changed cells only.
    void applySnapshot(const Sluice::MetricsSnapshot &snapshot);
    void clearStats();
    void setRunning(bool running);
    bool isRunning() const { return m_running; }

    /// Row operations (not while running): a new endpoint with defaults, a copy with a fresh name, removal.
    int addEndpoint();
    int duplicateEndpoint(int row);
    bool removeEndpoint(int row);

    int rowCount(const QModelIndex &parent = QModelIndex()) const override;
    int columnCount(const QModelIndex &parent = QModelIndex()) const override;
    QVariant data(const QModelIndex &index, int role = Qt::DisplayRole) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role = Qt::DisplayRole) const override;
    Qt::ItemFlags flags(const QModelIndex &index) const override;
    bool setData(const QModelIndex &index, const QVariant &value, int role = Qt::EditRole) override;

    /// Why the last refused setData refused, empty when the last one succeeded.
    QString lastError() const { return m_lastError; }

Q_SIGNALS:
    /// A live-tunable value changed while running: forward to the engine.
    void liveEditRequested(int row, Sluice::EndpointConfig endpoint);
    /// An edit was refused; `reason` says why and what is accepted (shown next to the cell).
    void editRejected(const QModelIndex &index, const QString &reason);
    /// The operator changed the configuration (a cell, or a row added, duplicated or removed); not
    /// emitted by setEndpoints() or live statistics. The window counts these as unsaved changes.
    void configurationEdited();

private:
    bool setValue(int row, int column, const QVariant &value, int role);
    /// The cell's tooltip: the whole URL, the limit and what sets it, the spend in detail.
    QVariant toolTip(int row, int column) const;
    bool refuse(const QString &reason);
    void setWeight(int row, double weight);
    void emitRowRange(int row, int first, int last);
    bool isNameTaken(const QString &name, int exceptRow) const;
    QString uniqueName(const QString &base) const;

    QList<Sluice::EndpointConfig> m_endpoints;
    QList<double> m_savedWeights; ///< weight to restore when re-enabled (the last positive weight)
    QList<std::optional<Sluice::EndpointStats>> m_stats; ///< index-aligned; empty until a snapshot
    bool m_running = false;
    QString m_lastError;
};

} // namespace Sluice::Gui
