-- Invariant 8 (SPEC section 7), run by the chaos auditor ($1: since, $2: accepted order ids):
-- exactly one notice per order that has ended, of its kind, and none for an order still PENDING.
-- A CANCELLING order is told at once: OrderCancelled starts its compensations.
select 8, 'order ' || o.id,
       format('order %s with %s notice(s)%s', o.status, count(n.order_id),
              coalesce(' of kind ' || string_agg(n.kind, ', '), ''))
from "order".orders o
left join notification.notices n on n.order_id = o.id
where $1::timestamptz is null or o.created_at >= $1 or o.id = any($2)
group by o.id, o.status
having count(n.order_id) <> case when o.status = 'PENDING' then 0 else 1 end
    or bool_or(n.kind <> case o.status when 'CONFIRMED' then 'confirmed' else 'cancelled' end)
