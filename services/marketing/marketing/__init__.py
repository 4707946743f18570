"""marketing service: promotions, coupons, members and points, and the price of every order."""
