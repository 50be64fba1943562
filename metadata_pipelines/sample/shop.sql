-- A small online shop: the sample source the `demo` command syncs.
-- Deterministic: every row is computed from its number, so every build holds the same data.
PRAGMA foreign_keys = ON;

CREATE TABLE categories (
    category_id INTEGER PRIMARY KEY,
    parent_id   INTEGER REFERENCES categories (category_id) ON DELETE SET NULL,
    name        TEXT    NOT NULL,
    slug        TEXT    NOT NULL UNIQUE
);

CREATE TABLE customers (
    customer_id INTEGER PRIMARY KEY,
    email       TEXT      NOT NULL,
    full_name   TEXT      NOT NULL,
    country     CHAR(2)   NOT NULL DEFAULT 'US',
    is_active   BOOLEAN   NOT NULL DEFAULT 1,
    created_at  TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE products (
    product_id  INTEGER PRIMARY KEY,
    category_id INTEGER        NOT NULL REFERENCES categories (category_id),
    sku         VARCHAR(32)    NOT NULL,
    name        TEXT           NOT NULL,
    unit_price  DECIMAL(10, 2) NOT NULL CHECK (unit_price >= 0),
    weight_kg   REAL,
    discontinued_on DATE,
    CONSTRAINT uq_products_sku UNIQUE (sku)
);

CREATE TABLE orders (
    order_id    INTEGER PRIMARY KEY,
    customer_id INTEGER   NOT NULL REFERENCES customers (customer_id) ON DELETE CASCADE,
    status      TEXT      NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'paid', 'shipped', 'cancelled')),
    ordered_at  TIMESTAMP NOT NULL,
    note        TEXT
);

-- One row per line of an order: a composite primary key.
CREATE TABLE order_items (
    order_id   INTEGER        NOT NULL REFERENCES orders (order_id) ON DELETE CASCADE,
    line_no    INTEGER        NOT NULL,
    product_id INTEGER        NOT NULL REFERENCES products (product_id),
    quantity   INTEGER        NOT NULL CHECK (quantity > 0),
    unit_price DECIMAL(10, 2) NOT NULL,
    PRIMARY KEY (order_id, line_no)
) WITHOUT ROWID;

-- Returns point at one order line: a composite foreign key.
CREATE TABLE returns (
    return_id   INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL,
    line_no     INTEGER NOT NULL,
    reason      TEXT,
    returned_at TIMESTAMP NOT NULL,
    FOREIGN KEY (order_id, line_no) REFERENCES order_items (order_id, line_no)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE TABLE payments (
    payment_id  INTEGER PRIMARY KEY,
    order_id    INTEGER        NOT NULL REFERENCES orders (order_id),
    method      TEXT           NOT NULL CHECK (method IN ('card', 'paypal', 'transfer')),
    amount      DECIMAL(10, 2) NOT NULL,
    paid_at     TIMESTAMP      NOT NULL,
    provider_reference TEXT,
    UNIQUE (method, provider_reference)
);

CREATE UNIQUE INDEX ux_customers_email ON customers (lower(email));
CREATE INDEX ix_products_category ON products (category_id, name);
CREATE INDEX ix_orders_customer_date ON orders (customer_id, ordered_at DESC);
CREATE INDEX ix_orders_open ON orders (ordered_at) WHERE status IN ('pending', 'paid');
CREATE INDEX ix_order_items_product ON order_items (product_id);

CREATE VIEW order_totals AS
SELECT o.order_id,
       o.customer_id,
       o.status,
       count(*)                         AS line_count,
       sum(i.quantity * i.unit_price)   AS total_amount
FROM orders AS o
JOIN order_items AS i ON i.order_id = o.order_id
GROUP BY o.order_id, o.customer_id, o.status;

CREATE VIEW customer_lifetime_value AS
SELECT c.customer_id,
       c.email,
       count(t.order_id)               AS orders,
       coalesce(sum(t.total_amount), 0) AS lifetime_value
FROM customers AS c
LEFT JOIN order_totals AS t ON t.customer_id = c.customer_id AND t.status <> 'cancelled'
GROUP BY c.customer_id, c.email;

-- Data --------------------------------------------------------------------------------------------

INSERT INTO categories (category_id, parent_id, name, slug) VALUES
    (1, NULL, 'Home', 'home'),
    (2, 1, 'Kitchen', 'home-kitchen'),
    (3, 1, 'Garden', 'home-garden'),
    (4, NULL, 'Outdoor', 'outdoor'),
    (5, 4, 'Camping', 'outdoor-camping'),
    (6, 4, 'Cycling', 'outdoor-cycling'),
    (7, NULL, 'Books', 'books'),
    (8, 7, 'Cookbooks', 'books-cookbooks');

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 60)
INSERT INTO customers (customer_id, email, full_name, country, is_active, created_at)
SELECT i,
       'customer' || i || '@example.com',
       'Customer ' || i,
       CASE i % 5 WHEN 0 THEN 'DE' WHEN 1 THEN 'US' WHEN 2 THEN 'FR' WHEN 3 THEN 'GB' ELSE 'NL' END,
       i % 11 <> 0,
       datetime('2024-01-01', '+' || (i * 3) || ' days')
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
INSERT INTO products (product_id, category_id, sku, name, unit_price, weight_kg, discontinued_on)
SELECT i,
       2 + (i % 7) - (CASE WHEN (i % 7) = 5 THEN 1 ELSE 0 END),
       printf('SKU-%05d', i * 37),
       'Product ' || i,
       round(4.99 + (i * 7 % 90) + 0.5 * (i % 2), 2),
       CASE WHEN i % 4 = 0 THEN NULL ELSE round(0.2 + (i % 9) * 0.35, 2) END,
       CASE WHEN i % 13 = 0 THEN date('2025-06-01', '+' || i || ' days') END
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150)
INSERT INTO orders (order_id, customer_id, status, ordered_at, note)
SELECT i,
       1 + (i * 7 % 60),
       CASE i % 10 WHEN 0 THEN 'cancelled' WHEN 1 THEN 'pending' WHEN 2 THEN 'paid' ELSE 'shipped' END,
       datetime('2025-01-01 09:00:00', '+' || (i * 37) || ' hours'),
       CASE WHEN i % 17 = 0 THEN 'gift wrap, please' END
FROM n;

WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150),
     l(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM l WHERE j < 3)
INSERT INTO order_items (order_id, line_no, product_id, quantity, unit_price)
SELECT n.i, l.j, p.product_id, 1 + ((n.i + l.j) % 4), p.unit_price
FROM n
JOIN l ON l.j <= 1 + (n.i % 3)
JOIN products AS p ON p.product_id = 1 + ((n.i * 11 + l.j * 5) % 40);

INSERT INTO payments (order_id, method, amount, paid_at, provider_reference)
SELECT t.order_id,
       CASE t.order_id % 3 WHEN 0 THEN 'card' WHEN 1 THEN 'paypal' ELSE 'transfer' END,
       t.total_amount,
       datetime(o.ordered_at, '+2 hours'),
       CASE WHEN t.order_id % 3 = 2 THEN NULL ELSE printf('PAY-%06d', t.order_id * 101) END
FROM order_totals AS t
JOIN orders AS o ON o.order_id = t.order_id
WHERE t.status IN ('paid', 'shipped')
ORDER BY t.order_id;

INSERT INTO returns (order_id, line_no, reason, returned_at)
SELECT i.order_id, i.line_no,
       CASE i.order_id % 2 WHEN 0 THEN 'damaged' ELSE 'changed mind' END,
       datetime(o.ordered_at, '+9 days')
FROM order_items AS i
JOIN orders AS o ON o.order_id = i.order_id
WHERE o.status = 'shipped' AND i.order_id % 19 = 0 AND i.line_no = 1
ORDER BY i.order_id;

PRAGMA user_version = 1;
