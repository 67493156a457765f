"""Static vocabularies of the fashion retailer: segments, categories, brands, channels.

Facts that the world is drawn from. Each table is small and fixed, so it is plain Python
data; codes are indexes into these tuples, which keeps the big per-entity arrays numeric.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# --------------------------------------------------------------------------- segments
SEGMENTS = ("vip", "premium", "loyal", "regular", "new")
SEGMENT_SHARE = np.array([0.05, 0.15, 0.25, 0.35, 0.20])
# Expected orders per customer per average day, and basket size range (lines per order).
SEGMENT_ORDER_RATE = np.array([0.30, 0.18, 0.14, 0.09, 0.06])
SEGMENT_BASKET_RANGE = np.array([[2, 6], [1, 5], [1, 4], [1, 3], [1, 2]])
REQUESTED_QUANTITY_PROBS = np.array([0.80, 0.15, 0.05])  # 1, 2 or 3 units of a line
# The customer dimension holds the loyalty programme's members; the population's orders are the
# chain's whole traffic, and an order carries its member's identity only when the member shows it
# (card scanned at the till, signed in online): otherwise it is the unknown member's (key 0, the
# Kimball convention). Shares by channel (CHANNELS order): app users are signed in more often than
# web shoppers, store receipts are mostly anonymous, a marketplace never passes the buyer on.
# With the segments' order rates this gives members about 4-5 identified orders a year (VIPs 13).
UNKNOWN_CUSTOMER_KEY = 0
UNKNOWN = "unknown"  # the unknown member's value in the customer dimension's labelled columns
IDENTIFIED_SHARE = np.array([0.15, 0.15, 0.25, 0.25, 0.05, 0.10, 0.05, 0.0])
# A member's lifetime value: the expected spend of their identified orders over this many years.
CUSTOMER_LIFETIME_YEARS = 4.0
SEGMENT_EMAIL_OPT_IN = np.array([0.95, 0.85, 0.70, 0.50, 0.30])
SEGMENT_SMS_OPT_IN = np.array([0.80, 0.60, 0.45, 0.30, 0.15])
# Return propensity relative to the average customer (vip keep more, new return more).
SEGMENT_RETURN_FACTOR = np.array([0.8, 0.9, 1.0, 1.05, 1.2])
SEGMENT_LOYALTY_DISCOUNT = np.array([0.10, 0.05, 0.0, 0.0, 0.0])
LOYALTY_TIERS = ("platinum", "gold", "silver", "bronze")
# P(tier | segment), rows sum to 1.
SEGMENT_TIER_PROBS = np.array(
    [
        [0.70, 0.30, 0.00, 0.00],
        [0.15, 0.60, 0.25, 0.00],
        [0.00, 0.30, 0.55, 0.15],
        [0.00, 0.05, 0.35, 0.60],
        [0.00, 0.00, 0.10, 0.90],
    ]
)

# --------------------------------------------------------------------------- channels
@dataclass(frozen=True)
class Channel:
    code: str
    name: str
    channel_type: str
    channel_category: str
    device_category: str
    is_digital: bool
    is_owned: bool
    commission_rate: float


CHANNELS = (
    Channel("WEB_DESKTOP", "Website (desktop)", "online", "web", "desktop", True, True, 0.0),
    Channel("WEB_MOBILE", "Website (mobile)", "online", "web", "mobile", True, True, 0.0),
    Channel("APP_IOS", "iOS app", "online", "app", "mobile", True, True, 0.0),
    Channel("APP_ANDROID", "Android app", "online", "app", "mobile", True, True, 0.0),
    Channel("STORE_POS", "Store point of sale", "store", "physical", "pos_terminal", False, True, 0.0),
    Channel("STORE_KIOSK", "Store endless-aisle kiosk", "store", "physical", "kiosk", True, True, 0.0),
    Channel("SOCIAL_FB", "Facebook shop", "online", "social", "mobile", True, False, 0.05),
    Channel("MARKETPLACE_AMAZON", "Amazon marketplace", "online", "marketplace", "mixed", True, False, 0.15),
)
CHANNEL_STORE_POS = 4
CHANNEL_KIOSK = 5
# P(channel | segment): vip shop more in store and in the app, new customers on the web.
SEGMENT_CHANNEL_PROBS = np.array(
    [
        [0.14, 0.10, 0.18, 0.08, 0.40, 0.03, 0.02, 0.05],
        [0.16, 0.14, 0.14, 0.08, 0.36, 0.03, 0.03, 0.06],
        [0.16, 0.16, 0.12, 0.08, 0.34, 0.03, 0.04, 0.07],
        [0.15, 0.20, 0.08, 0.07, 0.32, 0.03, 0.06, 0.09],
        [0.18, 0.22, 0.06, 0.06, 0.26, 0.02, 0.09, 0.11],
    ]
)
PREFERRED_CHANNEL_LOYALTY = 0.5  # share of orders placed on the customer's preferred channel

FULFILLMENT_TYPES = ("in_store", "ship", "pickup", "same_day")
FULFILL_IN_STORE, FULFILL_SHIP, FULFILL_PICKUP, FULFILL_SAME_DAY = range(4)
# Digital orders: ship from a fulfilment node, or buy online and pick up / same-day from a store.
DIGITAL_FULFILLMENT_PROBS = np.array([0.0, 0.72, 0.18, 0.10])

PAYMENT_METHODS = ("credit_card", "debit_card", "paypal", "apple_pay", "gift_card", "cash")
STORE_PAYMENT_PROBS = np.array([0.50, 0.26, 0.0, 0.10, 0.04, 0.10])
DIGITAL_PAYMENT_PROBS = np.array([0.55, 0.15, 0.17, 0.10, 0.03, 0.0])

# --------------------------------------------------------------------------- products
# (level_1, level_2, level_3, price_low, price_high, size_range, season weights S/Su/F/W/YR)
CATEGORY_TREE = (
    ("Apparel", "Tops", "T-Shirts", 29.99, 69.99, "XS-XXL", (3, 5, 1, 0, 3)),
    ("Apparel", "Tops", "Blouses", 39.99, 129.99, "XS-XXL", (4, 3, 3, 1, 2)),
    ("Apparel", "Tops", "Shirts", 39.99, 119.99, "XS-XXL", (3, 2, 3, 2, 3)),
    ("Apparel", "Tops", "Sweaters", 49.99, 199.99, "XS-XXL", (1, 0, 5, 5, 1)),
    ("Apparel", "Tops", "Hoodies", 44.99, 109.99, "XS-XXL", (2, 0, 4, 4, 2)),
    ("Apparel", "Tops", "Tank Tops", 29.99, 49.99, "XS-XXL", (2, 6, 0, 0, 1)),
    ("Apparel", "Bottoms", "Jeans", 49.99, 179.99, "26-40", (2, 1, 3, 2, 5)),
    ("Apparel", "Bottoms", "Trousers", 49.99, 159.99, "26-40", (3, 2, 3, 2, 3)),
    ("Apparel", "Bottoms", "Shorts", 29.99, 69.99, "26-40", (2, 6, 0, 0, 0)),
    ("Apparel", "Bottoms", "Skirts", 39.99, 119.99, "XS-XXL", (4, 4, 2, 1, 1)),
    ("Apparel", "Bottoms", "Leggings", 29.99, 89.99, "XS-XXL", (2, 1, 2, 2, 4)),
    ("Apparel", "Dresses", "Casual Dresses", 49.99, 139.99, "XS-XXL", (4, 5, 2, 0, 1)),
    ("Apparel", "Dresses", "Cocktail Dresses", 89.99, 279.99, "XS-XXL", (2, 2, 2, 3, 2)),
    ("Apparel", "Dresses", "Maxi Dresses", 69.99, 189.99, "XS-XXL", (3, 6, 1, 0, 0)),
    ("Apparel", "Dresses", "Midi Dresses", 69.99, 199.99, "XS-XXL", (3, 3, 3, 1, 1)),
    ("Apparel", "Outerwear", "Jackets", 89.99, 249.99, "XS-XXL", (3, 0, 5, 2, 1)),
    ("Apparel", "Outerwear", "Coats", 129.99, 299.99, "XS-XXL", (0, 0, 3, 6, 0)),
    ("Apparel", "Outerwear", "Blazers", 99.99, 249.99, "XS-XXL", (3, 1, 3, 2, 3)),
    ("Apparel", "Outerwear", "Vests", 59.99, 149.99, "XS-XXL", (2, 0, 4, 3, 1)),
    ("Accessories", "Bags", "Handbags", 69.99, 299.99, "One Size", (2, 2, 2, 2, 5)),
    ("Accessories", "Bags", "Backpacks", 49.99, 149.99, "One Size", (1, 1, 3, 1, 5)),
    ("Accessories", "Bags", "Totes", 39.99, 129.99, "One Size", (3, 4, 1, 0, 3)),
    ("Accessories", "Bags", "Wallets", 29.99, 119.99, "One Size", (1, 1, 1, 2, 5)),
    ("Accessories", "Bags", "Clutches", 39.99, 159.99, "One Size", (2, 2, 2, 3, 2)),
    ("Accessories", "Jewelry", "Necklaces", 29.99, 199.99, "One Size", (2, 2, 2, 3, 4)),
    ("Accessories", "Jewelry", "Earrings", 29.99, 149.99, "One Size", (2, 2, 2, 3, 4)),
    ("Accessories", "Jewelry", "Bracelets", 29.99, 129.99, "One Size", (2, 3, 2, 2, 4)),
    ("Accessories", "Jewelry", "Rings", 29.99, 179.99, "One Size", (1, 1, 1, 2, 5)),
    ("Accessories", "Scarves", "Silk Scarves", 39.99, 149.99, "One Size", (4, 2, 3, 1, 1)),
    ("Accessories", "Scarves", "Wool Scarves", 34.99, 119.99, "One Size", (0, 0, 3, 6, 0)),
    ("Footwear", "Shoes", "Sneakers", 59.99, 179.99, "5-12", (2, 2, 2, 1, 5)),
    ("Footwear", "Shoes", "Boots", 89.99, 299.99, "5-12", (0, 0, 4, 6, 0)),
    ("Footwear", "Shoes", "Sandals", 29.99, 119.99, "5-12", (2, 7, 0, 0, 0)),
    ("Footwear", "Shoes", "Heels", 69.99, 249.99, "5-12", (2, 2, 2, 2, 3)),
    ("Footwear", "Shoes", "Flats", 44.99, 139.99, "5-12", (3, 3, 2, 1, 3)),
    ("Footwear", "Shoes", "Loafers", 69.99, 199.99, "5-12", (2, 1, 3, 2, 3)),
)
CATEGORY_LEVEL_1 = tuple(row[0] for row in CATEGORY_TREE)
CATEGORY_LEVEL_2 = tuple(row[1] for row in CATEGORY_TREE)
CATEGORY_LEVEL_3 = tuple(row[2] for row in CATEGORY_TREE)
CATEGORY_PRICE_RANGE = np.array([[row[3], row[4]] for row in CATEGORY_TREE])
CATEGORY_SIZE_RANGE = tuple(row[5] for row in CATEGORY_TREE)
CATEGORY_SEASON_WEIGHTS = np.array([row[6] for row in CATEGORY_TREE], dtype=np.float64)
# Leaf singular for product names ("Jeans" stays "Jeans").
CATEGORY_ITEM_NAME = (
    "T-Shirt", "Blouse", "Shirt", "Sweater", "Hoodie", "Tank Top", "Jeans", "Trousers", "Shorts", "Skirt",
    "Leggings", "Casual Dress", "Cocktail Dress", "Maxi Dress", "Midi Dress", "Jacket", "Coat", "Blazer",
    "Vest", "Handbag", "Backpack", "Tote", "Wallet", "Clutch", "Necklace", "Earrings", "Bracelet", "Ring",
    "Silk Scarf", "Wool Scarf", "Sneakers", "Boots", "Sandals", "Heels", "Flats", "Loafers",
)
# Preferred (level_2) categories by segment, as weights over CATEGORY_LEVEL_2 values below.
PREFERENCE_CATEGORIES = ("Tops", "Bottoms", "Dresses", "Outerwear", "Bags", "Jewelry", "Scarves", "Shoes")
SEGMENT_CATEGORY_PROBS = np.array(
    [
        [0.12, 0.10, 0.16, 0.14, 0.18, 0.14, 0.04, 0.12],
        [0.15, 0.12, 0.16, 0.12, 0.14, 0.11, 0.05, 0.15],
        [0.20, 0.16, 0.14, 0.10, 0.10, 0.08, 0.05, 0.17],
        [0.24, 0.20, 0.12, 0.08, 0.08, 0.06, 0.04, 0.18],
        [0.26, 0.22, 0.12, 0.06, 0.07, 0.06, 0.04, 0.17],
    ]
)
PREFERRED_CATEGORY_AFFINITY = 0.35  # share of lines drawn from the customer's preferred category

SEASONS = ("Spring", "Summer", "Fall", "Winter", "Year-round")
# Demand factor of a product of season code (row) in calendar season (column Spring..Winter).
SEASON_AFFINITY = np.array(
    [
        [1.6, 1.0, 0.6, 0.4],
        [1.0, 1.8, 0.5, 0.2],
        [0.6, 0.4, 1.6, 1.0],
        [0.4, 0.2, 1.0, 1.8],
        [1.0, 1.0, 1.0, 1.0],
    ]
)

BRANDS = (
    "Aurora & Vale", "Northline", "Maison Juno", "Copper Thread",
    "Harbor Lane", "Studio Meridian", "Wildroot", "Elm & Ember",
)
# Brand positioning: price multiplier and the price tier it mostly sells in.
BRAND_PRICE_FACTOR = np.array([1.25, 0.8, 1.45, 0.95, 0.85, 1.1, 0.9, 1.0])
PRICE_TIERS = ("budget", "mid", "premium", "luxury")
PRICE_TIER_BOUNDS = np.array([60.0, 120.0, 200.0])  # base_price cut points between tiers
PRICE_TIER_MARGIN = np.array([[0.42, 0.52], [0.50, 0.60], [0.56, 0.66], [0.62, 0.74]])

COLORS = (
    ("Black", "Neutral"), ("White", "Neutral"), ("Ivory", "Neutral"), ("Charcoal", "Neutral"),
    ("Navy", "Blue"), ("Sky Blue", "Blue"), ("Burgundy", "Red"), ("Coral", "Red"),
    ("Olive", "Green"), ("Sage", "Green"), ("Camel", "Brown"), ("Blush", "Pink"),
)
MATERIALS = (
    "Cotton", "Linen", "Wool", "Silk", "Cashmere", "Denim", "Leather", "Recycled Polyester", "Viscose",
    "Sterling Silver",
)
# Composition text by primary material (what a care label would say).
MATERIAL_COMPOSITION = (
    "100% Organic Cotton", "100% Linen", "80% Wool, 20% Polyamide", "100% Silk", "100% Cashmere",
    "98% Cotton, 2% Elastane", "100% Leather", "100% Recycled Polyester", "95% Viscose, 5% Elastane",
    "92.5% Silver",
)
SUSTAINABLE_MATERIALS = np.array([True, True, False, False, False, False, False, True, False, False])
# Plausible primary materials (weights over MATERIALS) per level-2 group of PREFERENCE_CATEGORIES.
GROUP_MATERIAL_WEIGHTS = np.array(
    [
        [5, 2, 1, 1, 1, 0, 0, 2, 2, 0],  # Tops
        [3, 1, 1, 0, 0, 5, 0, 1, 1, 0],  # Bottoms
        [3, 2, 0, 2, 0, 0, 0, 2, 3, 0],  # Dresses
        [1, 0, 4, 0, 1, 2, 3, 3, 0, 0],  # Outerwear
        [2, 0, 0, 0, 0, 0, 6, 2, 0, 0],  # Bags
        [0, 0, 0, 0, 0, 0, 1, 0, 0, 6],  # Jewelry
        [1, 0, 3, 4, 2, 0, 0, 0, 1, 0],  # Scarves
        [2, 0, 0, 0, 0, 0, 6, 2, 0, 0],  # Shoes
    ],
    dtype=np.float64,
)
COLLECTIONS = ("Essentials", "Weekend", "Atelier", "Coastal", "Metro", "Heritage", "Studio", "Trail")

SIZES_TOPS = ("XS", "S", "M", "L", "XL", "XXL")
SIZES_TOPS_PROBS = np.array([0.08, 0.22, 0.30, 0.22, 0.12, 0.06])
SIZES_BOTTOMS = tuple(str(size) for size in range(26, 42, 2))
SIZES_BOTTOMS_PROBS = np.array([0.06, 0.12, 0.18, 0.20, 0.18, 0.13, 0.08, 0.05])

# --------------------------------------------------------------------------- locations
LOCATION_TYPES = ("store", "warehouse", "distribution_center")
LOC_STORE, LOC_WAREHOUSE, LOC_DC = range(3)
STORE_FORMATS = ("standard", "flagship", "outlet", "fulfillment")
FORMAT_STANDARD, FORMAT_FLAGSHIP, FORMAT_OUTLET, FORMAT_FULFILLMENT = range(4)
# Per store format: (supplier lead time days, order cover days, minimum order units, sq ft range)
FORMAT_LEAD_DAYS = np.array([3, 2, 4, 5])
FORMAT_COVER_DAYS = np.array([14, 10, 21, 21])
FORMAT_MIN_ORDER = np.array([2, 2, 3, 6])
DC_LEAD_DAYS, DC_COVER_DAYS, DC_MIN_ORDER = 7, 28, 12
FORMAT_SQFT = np.array([[8_000, 18_000], [30_000, 60_000], [10_000, 25_000], [120_000, 400_000]])
DC_SQFT = (400_000, 900_000)

FIRST_NAMES = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Sandra", "Mark", "Ashley", "Steven", "Emily",
    "Andrew", "Michelle", "Joshua", "Amanda", "Kevin", "Melissa", "Brian", "Stephanie", "Ryan", "Rebecca",
    "Jacob", "Laura", "Nicholas", "Emma", "Tyler", "Olivia", "Ethan", "Sophia", "Noah", "Ava",
    "Liam", "Isabella", "Lucas", "Mia", "Mateo", "Camila", "Aiden", "Chloe", "Wei", "Priya",
    "Diego", "Sofia", "Omar", "Aaliyah", "Hiro", "Yuna", "Malik", "Zoe", "Andre", "Grace",
)
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
    "Chen", "Patel", "Kim", "Singh", "Okafor", "Murphy", "Cohen", "Rossi", "Silva", "Novak",
)
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")
ACQUISITION_CHANNELS = ("organic_search", "paid_search", "social", "email", "referral", "store_walk_in", "affiliate")
ACQUISITION_CHANNEL_PROBS = np.array([0.22, 0.18, 0.16, 0.08, 0.10, 0.20, 0.06])

# State sales tax (state rate plus a typical local add-on); states without one are 0.
STATE_SALES_TAX = {
    "AK": 0.0, "DE": 0.0, "MT": 0.0, "NH": 0.0, "OR": 0.0,
    "CA": 0.0875, "TX": 0.0825, "NY": 0.08875, "IL": 0.0925, "WA": 0.0935, "TN": 0.0955, "LA": 0.0955,
    "AR": 0.0945, "AL": 0.0925, "OK": 0.0895, "KS": 0.087, "AZ": 0.084, "NV": 0.0823, "CO": 0.078,
    "MN": 0.0749, "NJ": 0.06625, "PA": 0.0634, "FL": 0.0702, "GA": 0.0738, "NC": 0.0699, "SC": 0.0749,
    "OH": 0.0724, "MO": 0.0833, "IN": 0.07, "MI": 0.06, "MA": 0.0625, "MD": 0.06, "VA": 0.0577,
    "WI": 0.0543, "UT": 0.0719, "NM": 0.0762, "NE": 0.0697, "IA": 0.0694, "KY": 0.06, "DC": 0.06,
    "HI": 0.045, "ID": 0.0603, "RI": 0.07, "CT": 0.0635, "MS": 0.0706, "WV": 0.0655, "ME": 0.055,
    "VT": 0.0636, "ND": 0.0696, "SD": 0.0611, "WY": 0.0544,
}
DEFAULT_SALES_TAX = 0.07

SOURCE_SYSTEM = "retail_assets_sim"

CATEGORY_GROUP = np.array([PREFERENCE_CATEGORIES.index(level_2) for level_2 in CATEGORY_LEVEL_2])
# Relative share of each leaf category in the assortment (apparel basics are the deepest).
GROUP_ASSORTMENT_WEIGHT = np.array([1.5, 1.3, 1.1, 0.9, 0.8, 0.6, 0.5, 1.2])

# Sizes: one vocabulary for all size systems; a leaf category's system follows its size range.
SIZES_SHOES = tuple(str(size) for size in range(5, 13))
SIZES_SHOES_PROBS = np.array([0.06, 0.12, 0.18, 0.20, 0.17, 0.13, 0.09, 0.05])
SIZE_SYSTEMS = (SIZES_TOPS, SIZES_BOTTOMS, SIZES_SHOES, ("One Size",))
SIZE_VOCABULARY = tuple(size for system in SIZE_SYSTEMS for size in system)
SIZE_SYSTEM_OFFSET = np.cumsum([0] + [len(system) for system in SIZE_SYSTEMS])[:-1]
SIZE_SYSTEM_LENGTH = np.array([len(system) for system in SIZE_SYSTEMS])
CATEGORY_SIZE_SYSTEM = np.array([("XS-XXL", "26-40", "5-12", "One Size").index(r) for r in CATEGORY_SIZE_RANGE])
ORDERED_SIZE_SHIFT_PROBS = np.array([0.14, 0.72, 0.14])  # one size down, own size, one size up
PRODUCT_SIZING_PROBS = np.array([0.15, 0.70, 0.15])  # runs small, true to size, runs large

# ------------------------------------------------------------------ vocabularies of the facts
# Codes index these tuples; the table contracts take their allowed values from here.
ORIGINS = ("new", "recovered_cart", "delayed_retry", "substitute")  # why a purchase request exists
RESPONSES = ("lost_to_competitor", "substitute", "delay", "no_purchase", "no_substitute", "lost_after_retry")
RETURN_REASONS = ("too_small", "too_large", "changed_mind", "not_as_described", "quality_issue", "damaged")
ABANDONMENT_STAGES = ("cart", "shipping", "payment")
SUSPECTED_REASONS = ("low_inventory", "high_shipping", "price_concern", "comparison_shopping", "technical_issue",
                     "payment_issue")
# (movement_type, movement_reason, reference_type) of each stock flow
MOVEMENT_KINDS = {
    "received": ("receipt", "vendor_order", "purchase_order"),
    "transferred_in": ("transfer", "dc_replenishment", "transfer_order"),
    "sold": ("sale", "customer_sale", "sales"),
    "restocked": ("return", "customer_return", "returns"),
    "adjusted": ("adjustment", "shrinkage", "cycle_count"),
}
EVENT_TYPES = (
    "page_view", "search", "filter_apply", "product_view", "size_guide_view", "add_to_cart", "remove_from_cart",
    "checkout_start", "checkout_complete",
)
EVENT_CATEGORY = ("navigation", "engagement", "engagement", "engagement", "engagement", "cart", "cart", "checkout",
                  "checkout")
EVENT_ACTIONS = ("view", "search", "filter", "view_product", "open_size_guide", "add", "remove", "begin_checkout",
                 "purchase")
DEVICE_TYPES = ("desktop", "mobile", "tablet", "app")
BROWSERS = ("Chrome", "Safari", "Edge", "Firefox", "Samsung Internet", "App")
OPERATING_SYSTEMS = ("Windows", "macOS", "iOS", "Android", "Linux")
