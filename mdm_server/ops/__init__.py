"""Operations on a running server from its host: rotating the master key."""
