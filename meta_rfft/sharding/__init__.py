"""Device meshes, logical-axis sharding rules, and creating models straight onto their shardings."""
