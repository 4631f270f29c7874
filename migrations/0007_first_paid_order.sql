-- `first_order` attribution decided at payment: one row per buyer, the buyer's first paid order.
-- order.paid inserts it in the same statement that marks the order paid (ON CONFLICT DO NOTHING):
-- the primary key is what makes "this is the buyer's first paid order" atomic — of two carts of one
-- buyer paid at the same moment exactly one inserts the row, the other waits for it and finds it
-- taken. Under ATTRIBUTION_SCOPE=first_order an order that does not get the row loses its referral
-- (both rails). The row is written for every paid order with a buyer, whatever the scope, so a later
-- switch to `first_order` still knows who has paid before. Append-only: never edit after it lands.
CREATE TABLE buyer_first_paid_orders (
  buyer_member_id  text PRIMARY KEY REFERENCES members (member_id),
  order_reference  text NOT NULL UNIQUE REFERENCES orders (order_reference),
  created_at       timestamptz NOT NULL DEFAULT now()
);

-- Buyers who paid before this migration: their earliest paid order.
INSERT INTO buyer_first_paid_orders (buyer_member_id, order_reference)
SELECT DISTINCT ON (buyer_member_id) buyer_member_id, order_reference
  FROM orders
 WHERE buyer_member_id IS NOT NULL AND status <> 'created'
 ORDER BY buyer_member_id, paid_at, order_reference
ON CONFLICT DO NOTHING;
